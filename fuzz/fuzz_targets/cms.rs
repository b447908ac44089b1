//! CMS SignedData: the structure reader, then OpenSSL's signature check, on any bytes
//! (attached, and detached with a fixed content).
#![no_main]

use libfuzzer_sys::fuzz_target;
use xacthuc::pki::cms;

fuzz_target!(|data: &[u8]| {
    if let Ok(parsed) = cms::parse(data) {
        let _ = cms::verify_signature(data, &parsed, None);
        let _ = cms::verify_signature(data, &parsed, Some(b"detached content"));
    }
});
