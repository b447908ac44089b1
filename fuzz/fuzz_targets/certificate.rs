//! Certificates: parsing, the subject reader and the classification, and the key-usage rule.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xacthuc::domain::TrustSet;
use xacthuc::pki::{classify, parse_certificate, path};

fuzz_target!(|data: &[u8]| {
    if let Ok((cert, subject)) = parse_certificate(data) {
        let _ = classify(&subject, TrustSet::Public);
        let _ = classify(&subject, TrustSet::Government);
        let _ = path::check_signing_key_usage(&cert);
        let _ = xacthuc::pki::printable_name(cert.issuer_name());
    }
});
