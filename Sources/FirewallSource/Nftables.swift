import CNftables

/// A libnftables context with buffered output and error streams. Not shared between threads.
final class NftablesContext {
    private let ctx: OpaquePointer

    struct Result {
        var ok: Bool
        var output: String
        var error: String
    }

    init?() {
        guard let c = nft_ctx_new(0) else { return nil }
        ctx = c
        _ = nft_ctx_buffer_output(ctx)
        _ = nft_ctx_buffer_error(ctx)
    }

    deinit {
        nft_ctx_free(ctx)
    }

    /// Output flags: `NFT_CTX_OUTPUT_JSON` and `NFT_CTX_OUTPUT_HANDLE` import as plain integers.
    func setOutput(json: Bool, handles: Bool) {
        var flags: UInt32 = 0
        if json { flags |= UInt32(NFT_CTX_OUTPUT_JSON) }
        if handles { flags |= UInt32(NFT_CTX_OUTPUT_HANDLE) }
        nft_ctx_output_set_flags(ctx, flags)
    }

    /// Runs one nft command (`list ruleset`), returning what it printed.
    func run(_ command: String, json: Bool, handles: Bool = true) -> Result {
        setOutput(json: json, handles: handles)
        let rc = nft_run_cmd_from_buffer(ctx, command)
        return collect(rc)
    }

    /// Loads a ruleset file (text syntax) into the current network namespace.
    func load(file path: String) -> Result {
        setOutput(json: false, handles: false)
        let rc = nft_run_cmd_from_filename(ctx, path)
        return collect(rc)
    }

    private func collect(_ rc: Int32) -> Result {
        let out = nft_ctx_get_output_buffer(ctx).map { String(cString: $0) } ?? ""
        let err = nft_ctx_get_error_buffer(ctx).map { String(cString: $0) } ?? ""
        return Result(ok: rc == 0, output: out, error: err)
    }
}
