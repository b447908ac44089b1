//! Who a certificate names, read from the subject's ASN.1 RDNs (never from the printed
//! string, where a `CN` could smuggle "UID=…"), and what kind of holder that is.
//!
//! Vietnamese CAs put the identity in one or more `UID` attributes (0.9.2342.19200300.100.1.1)
//! with a prefix: `CCCD:` (12-digit citizen identity), `CMND:` (9-digit legacy card), `HC:`
//! (passport), `MST:` (tax code, `0101234565` or a branch's `0101234565-001`), `MNS:` (budget
//! unit code). An enterprise's certificate has only the MST; a person acting for an enterprise
//! has the MST *and* their CCCD/CMND. Tax codes are checked as [`TaxCode`] does (check digit,
//! branch 001–999): a certificate whose MST fails is a broken identity, refused like a
//! malformed CCCD, not an enterprise with a typo.

use openssl::nid::Nid;
use openssl::x509::{X509NameRef, X509Ref};
use serde::{Deserialize, Serialize};

use super::PkiError;
use crate::domain::{IdNumber, TaxCode, TrustSet};

/// The attributes of a certificate's subject that matter to us.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertSubject {
    pub uids: Vec<Uid>,
    pub organization_identifier: Option<String>,
    pub common_name: Option<String>,
    pub organization: Option<String>,
    pub state: Option<String>,
    pub country: Option<String>,
    pub email: Option<String>,
    /// `UID` values with a known prefix whose number is not valid (`CCCD:12AB`). A subject
    /// with one is not classified: guessing around a broken attribute could turn a
    /// representative into the enterprise.
    pub unreadable_uids: Vec<String>,
}

/// One identity attribute, by its prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Uid {
    Cccd(String),
    Cmnd(String),
    /// `HC:`
    Passport(String),
    /// `MST:`
    TaxCode(String),
    /// `MNS:`
    BudgetUnit(String),
}

/// What kind of holder a certificate names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Holder {
    /// A person (CCCD/CMND only).
    Citizen { id_number: String },
    /// The enterprise itself (MST only).
    Enterprise { tax_code: String },
    /// A person acting for an organisation (MST + CCCD/CMND): the person logs in.
    Representative { id_number: String, tax_code: String },
    /// A state official's Government-CA certificate.
    Official {
        id_number: Option<String>,
        agency: Option<String>,
    },
}

/// The UID OID, 0.9.2342.19200300.100.1.1.
const UID_OID: &str = "0.9.2342.19200300.100.1.1";
/// organizationIdentifier, 2.5.4.97 (ETSI EN 319 412-1: `VATVN-…`, `NTRVN-…`).
const ORGANIZATION_IDENTIFIER_OID: &str = "2.5.4.97";

impl CertSubject {
    /// Reads the subject of `cert` (and an email from its subjectAltName when the subject has
    /// none).
    pub fn of(cert: &X509Ref) -> CertSubject {
        let mut subject = Self::from_name(cert.subject_name());
        if subject.email.is_none()
            && let Some(names) = cert.subject_alt_names()
        {
            subject.email = names.iter().find_map(|n| n.email().map(str::to_string));
        }
        subject
    }

    /// Reads the attributes from the RDNs of `name`.
    pub fn from_name(name: &X509NameRef) -> CertSubject {
        let mut s = CertSubject::default();
        for entry in name.entries() {
            let object = entry.object();
            // `to_string` refuses a value with an interior NUL (which `as_utf8` would cut).
            let Ok(value) = entry.data().to_string() else {
                if is_oid(object, UID_OID) {
                    s.unreadable_uids.push("(not a string)".into());
                }
                continue;
            };
            let value = value.trim().to_string();
            if value.is_empty() {
                continue;
            }
            match object.nid() {
                Nid::COMMONNAME => set_once(&mut s.common_name, value),
                Nid::ORGANIZATIONNAME => set_once(&mut s.organization, value),
                Nid::STATEORPROVINCENAME => set_once(&mut s.state, value),
                Nid::COUNTRYNAME => set_once(&mut s.country, value),
                Nid::PKCS9_EMAILADDRESS => set_once(&mut s.email, value),
                _ if is_oid(object, UID_OID) => match parse_uid(&value) {
                    Ok(Some(uid)) => {
                        if !s.uids.contains(&uid) {
                            s.uids.push(uid)
                        }
                    }
                    Ok(None) => {}
                    Err(()) => s.unreadable_uids.push(value),
                },
                _ if is_oid(object, ORGANIZATION_IDENTIFIER_OID) => {
                    set_once(&mut s.organization_identifier, value)
                }
                _ => {}
            }
        }
        s
    }

    fn person_id(&self) -> Result<Option<String>, PkiError> {
        // A CCCD is preferred to a CMND (a certificate may carry both, the old card and the
        // new); two different numbers of the same kind are ambiguous.
        let cccd = one(self.uids.iter().filter_map(|u| match u {
            Uid::Cccd(n) => Some(n),
            _ => None,
        }))?;
        if cccd.is_some() {
            return Ok(cccd);
        }
        one(self.uids.iter().filter_map(|u| match u {
            Uid::Cmnd(n) => Some(n),
            _ => None,
        }))
    }

    fn tax_code(&self) -> Result<Option<String>, PkiError> {
        let from_uid = one(self.uids.iter().filter_map(|u| match u {
            Uid::TaxCode(n) => Some(n),
            _ => None,
        }))?;
        if from_uid.is_some() {
            return Ok(from_uid);
        }
        match self.organization_identifier.as_deref() {
            Some(value) => {
                tax_code_of_organization_identifier(value).map_err(|()| PkiError::NoIdentity)
            }
            None => Ok(None),
        }
    }
}

/// Classifies the holder. A Government-CA certificate is always an official (the Government
/// CA issues only to state bodies and their staff); on the public path the UIDs decide.
pub fn classify(subject: &CertSubject, trust: TrustSet) -> Result<Holder, PkiError> {
    if !subject.unreadable_uids.is_empty() {
        return Err(PkiError::NoIdentity);
    }
    let person = subject.person_id()?;
    match trust {
        TrustSet::Government => {
            let agency = subject.organization.clone();
            if person.is_none() && agency.is_none() {
                return Err(PkiError::NoIdentity);
            }
            Ok(Holder::Official {
                id_number: person,
                agency,
            })
        }
        TrustSet::Public => match (person, subject.tax_code()?) {
            (Some(id_number), Some(tax_code)) => Ok(Holder::Representative {
                id_number,
                tax_code,
            }),
            (Some(id_number), None) => Ok(Holder::Citizen { id_number }),
            (None, Some(tax_code)) => Ok(Holder::Enterprise { tax_code }),
            // A passport or a budget-unit code alone names no account we keep (accounts are
            // keyed by ID number or tax code).
            (None, None) => Err(PkiError::NoIdentity),
        },
    }
}

fn set_once(slot: &mut Option<String>, value: String) {
    if slot.is_none() {
        *slot = Some(value);
    }
}

fn is_oid(object: &openssl::asn1::Asn1ObjectRef, oid: &str) -> bool {
    // `Display` gives the short name for an OID this OpenSSL knows; compare both forms.
    let Ok(wanted) = openssl::asn1::Asn1Object::from_str(oid) else {
        return false;
    };
    if wanted.nid() != Nid::UNDEF {
        return object.nid() == wanted.nid();
    }
    object.to_string() == oid
}

/// At most one distinct value.
fn one<'a>(mut values: impl Iterator<Item = &'a String>) -> Result<Option<String>, PkiError> {
    let first = values.next();
    if let Some(first) = first
        && values.any(|v| v != first)
    {
        return Err(PkiError::NoIdentity);
    }
    Ok(first.cloned())
}

/// `Ok(None)`: not an identity prefix we know (ignored). `Err`: a known prefix with a number
/// that is not valid.
fn parse_uid(value: &str) -> Result<Option<Uid>, ()> {
    let Some((prefix, number)) = value.split_once([':', '=']) else {
        return Ok(None);
    };
    let number = number.trim();
    match prefix.trim().to_ascii_uppercase().as_str() {
        "CCCD" | "CCCD/CMND" => id_number(number).map(|n| Some(Uid::Cccd(n))),
        "CMND" | "CMT" => id_number(number).map(|n| Some(Uid::Cmnd(n))),
        "HC" => passport(number).map(|n| Some(Uid::Passport(n))),
        "MST" => tax_code(number).map(|n| Some(Uid::TaxCode(n))),
        "MNS" => budget_unit(number).map(|n| Some(Uid::BudgetUnit(n))),
        _ => Ok(None),
    }
}

fn id_number(number: &str) -> Result<String, ()> {
    IdNumber::parse(number)
        .map(|n| n.as_str().to_string())
        .map_err(|_| ())
}

/// A valid tax code (check digit, branch 001–999), normalised (`0101234565-001`).
fn tax_code(number: &str) -> Result<String, ()> {
    TaxCode::parse(number)
        .map(|t| t.as_str().to_string())
        .map_err(|_| ())
}

fn passport(number: &str) -> Result<String, ()> {
    let ok = (6..=12).contains(&number.len()) && number.bytes().all(|b| b.is_ascii_alphanumeric());
    if ok {
        Ok(number.to_ascii_uppercase())
    } else {
        Err(())
    }
}

fn budget_unit(number: &str) -> Result<String, ()> {
    let ok = (7..=10).contains(&number.len()) && number.bytes().all(|b| b.is_ascii_digit());
    if ok { Ok(number.to_string()) } else { Err(()) }
}

/// `VATVN-0101234565` / `NTRVN-0101234565` (ETSI), or `MST:0101234565` as some CAs write it.
/// `Ok(None)`: another kind of identifier (ignored). `Err`: a tax-code prefix with a number
/// that is not a valid tax code.
fn tax_code_of_organization_identifier(value: &str) -> Result<Option<String>, ()> {
    let upper = value.trim().to_ascii_uppercase();
    let number = upper
        .strip_prefix("VATVN-")
        .or_else(|| upper.strip_prefix("NTRVN-"))
        .or_else(|| upper.strip_prefix("MST:"));
    match number {
        Some(number) => tax_code(number.trim()).map(Some),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use openssl::asn1::Asn1Type;
    use openssl::x509::X509Name;

    use super::*;

    /// A subject with these (attribute, value) RDNs, in order.
    fn name(parts: &[(&str, &str)]) -> X509Name {
        let mut b = X509Name::builder().unwrap();
        for (k, v) in parts {
            b.append_entry_by_text_with_type(k, v, Asn1Type::UTF8STRING)
                .unwrap();
        }
        b.build()
    }

    fn subject(parts: &[(&str, &str)]) -> CertSubject {
        CertSubject::from_name(&name(parts))
    }

    const CCCD: &str = "001099000123";

    #[test]
    fn every_prefix_is_read_from_uid_attributes() {
        let s = subject(&[
            ("UID", "CCCD:001099000123"),
            ("UID", "CMND:123456789"),
            ("UID", "HC:B1234567"),
            ("UID", "MST:0101234565-001"),
            ("UID", "MNS:1012345"),
            ("CN", "Nguyễn Văn An"),
        ]);
        assert_eq!(
            s.uids,
            vec![
                Uid::Cccd(CCCD.into()),
                Uid::Cmnd("123456789".into()),
                Uid::Passport("B1234567".into()),
                Uid::TaxCode("0101234565-001".into()),
                Uid::BudgetUnit("1012345".into()),
            ]
        );
        assert_eq!(s.common_name.as_deref(), Some("Nguyễn Văn An"));
        assert!(s.unreadable_uids.is_empty());
    }

    #[test]
    fn usual_variants_of_prefixes_are_accepted() {
        let s = subject(&[
            ("UID", "cccd: 001099000123 "),
            ("UID", "MST=0101234565"),
            ("UID", "CMT:123456789"),
        ]);
        assert_eq!(
            s.uids,
            vec![
                Uid::Cccd(CCCD.into()),
                Uid::TaxCode("0101234565".into()),
                Uid::Cmnd("123456789".into()),
            ]
        );
    }

    #[test]
    fn the_other_attributes_are_read_from_their_rdns() {
        let s = subject(&[
            ("C", "VN"),
            ("ST", "Hà Nội"),
            ("O", "Công ty TNHH Một Thành Viên Ánh Dương"),
            ("2.5.4.97", "VATVN-0101234565"),
            ("CN", "Trần Thị Bình"),
            ("emailAddress", "binh@anhduong.vn"),
            ("UID", "CCCD:001099000123"),
        ]);
        assert_eq!(s.country.as_deref(), Some("VN"));
        assert_eq!(s.state.as_deref(), Some("Hà Nội"));
        assert_eq!(
            s.organization.as_deref(),
            Some("Công ty TNHH Một Thành Viên Ánh Dương")
        );
        assert_eq!(
            s.organization_identifier.as_deref(),
            Some("VATVN-0101234565")
        );
        assert_eq!(s.email.as_deref(), Some("binh@anhduong.vn"));
    }

    #[test]
    fn a_uid_spelled_inside_the_common_name_is_not_an_identity() {
        // The printed subject would read "CN=x, UID=CCCD:…"; the RDNs say otherwise.
        let s = subject(&[("CN", "x, UID=CCCD:001099000123")]);
        assert!(s.uids.is_empty());
        assert_eq!(classify(&s, TrustSet::Public), Err(PkiError::NoIdentity));
    }

    #[test]
    fn citizen_enterprise_and_representative_on_the_public_path() {
        let citizen = subject(&[("UID", "CCCD:001099000123")]);
        assert_eq!(
            classify(&citizen, TrustSet::Public),
            Ok(Holder::Citizen {
                id_number: CCCD.into()
            })
        );
        let legacy = subject(&[("UID", "CMND:123456789")]);
        assert_eq!(
            classify(&legacy, TrustSet::Public),
            Ok(Holder::Citizen {
                id_number: "123456789".into()
            })
        );
        let enterprise = subject(&[("UID", "MST:0101234565"), ("O", "Công ty Ánh Dương")]);
        assert_eq!(
            classify(&enterprise, TrustSet::Public),
            Ok(Holder::Enterprise {
                tax_code: "0101234565".into()
            })
        );
        let representative = subject(&[("UID", "MST:0101234565"), ("UID", "CCCD:001099000123")]);
        assert_eq!(
            classify(&representative, TrustSet::Public),
            Ok(Holder::Representative {
                id_number: CCCD.into(),
                tax_code: "0101234565".into()
            })
        );
    }

    #[test]
    fn a_cccd_is_preferred_to_a_cmnd_and_two_different_numbers_are_refused() {
        let both = subject(&[("UID", "CMND:123456789"), ("UID", "CCCD:001099000123")]);
        assert_eq!(
            classify(&both, TrustSet::Public),
            Ok(Holder::Citizen {
                id_number: CCCD.into()
            })
        );
        let two = subject(&[("UID", "CCCD:001099000123"), ("UID", "CCCD:079199000456")]);
        assert_eq!(classify(&two, TrustSet::Public), Err(PkiError::NoIdentity));
        let two_tax = subject(&[("UID", "MST:0101234565"), ("UID", "MST:0301234562")]);
        assert_eq!(
            classify(&two_tax, TrustSet::Public),
            Err(PkiError::NoIdentity)
        );
    }

    #[test]
    fn the_tax_code_may_come_from_the_organization_identifier() {
        let s = subject(&[("2.5.4.97", "NTRVN-0101234565"), ("O", "Ánh Dương")]);
        assert_eq!(
            classify(&s, TrustSet::Public),
            Ok(Holder::Enterprise {
                tax_code: "0101234565".into()
            })
        );
    }

    #[test]
    fn missing_or_broken_identities_are_refused() {
        let none = subject(&[("CN", "Nguyễn Văn An"), ("O", "Ánh Dương")]);
        assert_eq!(classify(&none, TrustSet::Public), Err(PkiError::NoIdentity));
        let passport_only = subject(&[("UID", "HC:B1234567")]);
        assert_eq!(
            classify(&passport_only, TrustSet::Public),
            Err(PkiError::NoIdentity)
        );
        // A representative whose CCCD is broken must not become the enterprise.
        let broken = subject(&[("UID", "MST:0101234565"), ("UID", "CCCD:12AB")]);
        assert_eq!(broken.unreadable_uids, vec!["CCCD:12AB".to_string()]);
        assert_eq!(
            classify(&broken, TrustSet::Public),
            Err(PkiError::NoIdentity)
        );
        // An unknown province code is not a CCCD.
        let province = subject(&[("UID", "CCCD:999099000123")]);
        assert_eq!(
            classify(&province, TrustSet::Public),
            Err(PkiError::NoIdentity)
        );
        // A tax code with a wrong check digit, or branch 000: broken, not an enterprise.
        for bad in ["MST:0101234567", "MST:0101234565-000"] {
            let s = subject(&[("UID", bad), ("O", "Ánh Dương")]);
            assert_eq!(s.unreadable_uids, vec![bad.to_string()], "{bad}");
            assert_eq!(
                classify(&s, TrustSet::Public),
                Err(PkiError::NoIdentity),
                "{bad}"
            );
        }
        let org_id = subject(&[
            ("2.5.4.97", "VATVN-0101234567"),
            ("UID", "CCCD:001099000123"),
        ]);
        assert_eq!(
            classify(&org_id, TrustSet::Public),
            Err(PkiError::NoIdentity)
        );
        for bad in ["MST:012345", "MST:0101234565-01", "MNS:12"] {
            assert_eq!(subject(&[("UID", bad)]).unreadable_uids.len(), 1, "{bad}");
        }
        // Prefixes we do not know are ignored, not errors.
        assert!(subject(&[("UID", "BHXH:0123456789")]).uids.is_empty());
        assert!(subject(&[("UID", "nguyenvanan")]).uids.is_empty());
    }

    #[test]
    fn a_government_ca_certificate_is_an_official_of_its_agency() {
        let official = subject(&[
            ("UID", "CCCD:001099000123"),
            ("O", "Sở Tư pháp tỉnh Khánh Hòa"),
            ("CN", "Lê Văn Cường"),
        ]);
        assert_eq!(
            classify(&official, TrustSet::Government),
            Ok(Holder::Official {
                id_number: Some(CCCD.into()),
                agency: Some("Sở Tư pháp tỉnh Khánh Hòa".into())
            })
        );
        // An agency's own certificate (no person).
        let agency = subject(&[("UID", "MNS:1012345"), ("O", "Sở Tư pháp tỉnh Khánh Hòa")]);
        assert!(matches!(
            classify(&agency, TrustSet::Government),
            Ok(Holder::Official {
                id_number: None,
                agency: Some(_)
            })
        ));
        let nobody = subject(&[("CN", "Lê Văn Cường")]);
        assert_eq!(
            classify(&nobody, TrustSet::Government),
            Err(PkiError::NoIdentity)
        );
    }
}
