// FlowReassembly
