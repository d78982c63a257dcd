/// Public roots that browsers and Linux trust stores trusted for years and have since removed
/// (expired or distrusted). A chain in an old capture that ends at one of them was most likely
/// trusted when it was captured: today's trust store is not the one of the capture's time.
public enum RetiredRoots {
    /// Names (CN, or OU where the CN is generic), matched case-insensitively as whole attribute
    /// values of the untrusted issuer's distinguished name.
    public static let commonNames: [String] = [
        "AddTrust External CA Root",
        "AddTrust Class 1 CA Root",
        "GlobalSign Root CA - R2",
        "DST Root CA X3",
        "Equifax Secure Certificate Authority",
        "GeoTrust Global CA",
        "VeriSign Class 3 Public Primary Certification Authority",
        "Thawte Premium Server CA",
        "thawte Primary Root CA",
        "GTE CyberTrust Global Root",
        "Cybertrust Global Root",
        "Baltimore CyberTrust Root",
        "UTN-USERFirst-Hardware",
        "Go Daddy Class 2 Certification Authority",
        "Starfield Class 2 Certification Authority",
        "Entrust.net Secure Server Certification Authority",
        "Symantec Class 3 Secure Server CA",
        "DigiCert High Assurance EV Root CA",
        // Symantec's brands (VeriSign, GeoTrust, thawte, Symantec): distrusted by browsers in 2018
        // (Mozilla's graduated Symantec distrust, Firefox 60/63), then removed from trust stores.
        "VeriSign Class 3 Public Primary Certification Authority - G3",
        "VeriSign Class 3 Public Primary Certification Authority - G4",
        "VeriSign Class 3 Public Primary Certification Authority - G5",
        "VeriSign Universal Root Certification Authority",
        "GeoTrust Primary Certification Authority",
        "GeoTrust Primary Certification Authority - G2",
        "GeoTrust Primary Certification Authority - G3",
        "GeoTrust Universal CA",
        "GeoTrust Universal CA 2",
        "thawte Primary Root CA - G2",
        "thawte Primary Root CA - G3",
        "Symantec Class 3 Public Primary Certification Authority - G4",
        "Symantec Class 3 Public Primary Certification Authority - G6",
    ]

    /// The retired root named in `distinguishedName`, if any.
    public static func match(_ distinguishedName: String) -> String? {
        let values = distinguishedName.lowercased().split(separator: ",").map { part -> Substring in
            guard let eq = part.firstIndex(of: "=") else { return part }
            return part[part.index(after: eq)...]
        }
        return commonNames.first { name in values.contains { $0 == name.lowercased() } }
    }
}
