//! The X.509 side of certificates: checking an agency's CSR, making a managed key and its CSR,
//! and reading an issued chain.

use crate::domain::certificate::normal_name as normal;
use chrono::{DateTime, Utc};
use x509_parser::cri_attributes::ParsedCriAttribute;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer, X509Certificate, X509CertificationRequest};

/// Why a CSR or a chain is not acceptable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum X509Error {
    /// Not a PEM `CERTIFICATE REQUEST`, or not DER inside.
    #[error("not a certificate signing request: {0}")]
    NotACsr(String),
    /// The CSR's signature does not verify with its own key.
    #[error("the CSR's signature does not verify: {0}")]
    BadSignature(String),
    /// The CSR names something else than the one name.
    #[error("the CSR must name only {expected}; it names {found}")]
    WrongNames {
        /// The name the certificate is for.
        expected: String,
        /// What the CSR names.
        found: String,
    },
    /// The issued chain cannot be read.
    #[error("the issued chain cannot be read: {0}")]
    BadChain(String),
    /// Making a key or a CSR failed.
    #[error("cannot make the key or the CSR: {0}")]
    Generate(String),
}

/// Read a PEM CSR, check its signature and that it names exactly `name` (in the subject's
/// common name, if any, and in the subject alternative names, which hold only DNS names).
/// Returns the DER to send to the CA.
pub fn check_csr(pem_text: &str, name: &str) -> Result<Vec<u8>, X509Error> {
    let block = pem::parse(pem_text.trim()).map_err(|e| X509Error::NotACsr(e.to_string()))?;
    if block.tag() != "CERTIFICATE REQUEST" && block.tag() != "NEW CERTIFICATE REQUEST" {
        return Err(X509Error::NotACsr(format!(
            "the PEM block is a {}, not a CERTIFICATE REQUEST",
            block.tag()
        )));
    }
    let der = block.contents().to_vec();
    let (_, csr) =
        X509CertificationRequest::from_der(&der).map_err(|e| X509Error::NotACsr(e.to_string()))?;
    csr.verify_signature()
        .map_err(|e| X509Error::BadSignature(e.to_string()))?;
    let mut names: Vec<String> = Vec::new();
    for cn in csr.certification_request_info.subject.iter_common_name() {
        let value = cn
            .as_str()
            .map_err(|e| X509Error::NotACsr(format!("common name: {e}")))?;
        names.push(normal(value));
    }
    // Every extension request (a CSR may carry more than one), every extension in it.
    for attribute in csr.certification_request_info.iter_attributes() {
        let ParsedCriAttribute::ExtensionRequest(request) = attribute.parsed_attribute() else {
            continue;
        };
        for ext in &request.extensions {
            match ext.parsed_extension() {
                ParsedExtension::SubjectAlternativeName(san) => {
                    for general in &san.general_names {
                        match general {
                            GeneralName::DNSName(d) => names.push(normal(d)),
                            other => names.push(format!("{other}")),
                        }
                    }
                }
                ParsedExtension::ParseError { error } => {
                    return Err(X509Error::NotACsr(format!(
                        "an extension cannot be read: {error}"
                    )));
                }
                ParsedExtension::UnsupportedExtension { .. } if ext.critical => {
                    return Err(X509Error::NotACsr(format!(
                        "unknown critical extension {}",
                        ext.oid
                    )));
                }
                _ => {}
            }
        }
    }
    names.sort();
    names.dedup();
    let expected = normal(name);
    if names != [expected.clone()] {
        return Err(X509Error::WrongNames {
            expected,
            found: if names.is_empty() {
                "nothing".into()
            } else {
                names.join(", ")
            },
        });
    }
    Ok(der)
}

/// A new ECDSA P-256 key, PKCS#8 PEM.
pub fn new_key() -> Result<String, X509Error> {
    rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map(|k| k.serialize_pem())
        .map_err(|e| X509Error::Generate(e.to_string()))
}

/// A CSR (DER) for `name` signed with the PEM key.
pub fn csr_for(name: &str, key_pem: &str) -> Result<Vec<u8>, X509Error> {
    let key = rcgen::KeyPair::from_pem(key_pem).map_err(|e| X509Error::Generate(e.to_string()))?;
    let mut params = rcgen::CertificateParams::new(vec![normal(name)])
        .map_err(|e| X509Error::Generate(e.to_string()))?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    let csr = params
        .serialize_request(&key)
        .map_err(|e| X509Error::Generate(e.to_string()))?;
    Ok(csr.der().to_vec())
}

/// What ranah keeps about an issued chain's leaf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaf {
    /// The leaf's DER.
    pub der: Vec<u8>,
    /// Serial, lower-case hex.
    pub serial: String,
    /// Validity start.
    pub not_before: DateTime<Utc>,
    /// Validity end.
    pub not_after: DateTime<Utc>,
    /// Issuer DN.
    pub issuer: String,
    /// The DNS names it holds.
    pub names: Vec<String>,
}

/// Read the leaf (first certificate) of a PEM chain.
pub fn leaf_of(chain_pem: &str) -> Result<Leaf, X509Error> {
    let blocks = pem::parse_many(chain_pem).map_err(|e| X509Error::BadChain(e.to_string()))?;
    let first = blocks
        .iter()
        .find(|b| b.tag() == "CERTIFICATE")
        .ok_or_else(|| X509Error::BadChain("no CERTIFICATE block".into()))?;
    leaf_from_der(first.contents().to_vec())
}

/// Read a certificate in DER (a leaf a server presented).
pub fn leaf_from_der(der: Vec<u8>) -> Result<Leaf, X509Error> {
    let (_, cert) =
        X509Certificate::from_der(&der).map_err(|e| X509Error::BadChain(e.to_string()))?;
    let time = |t: x509_parser::time::ASN1Time| {
        DateTime::<Utc>::from_timestamp(t.timestamp(), 0)
            .ok_or_else(|| X509Error::BadChain("validity out of range".into()))
    };
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for general in &san.value.general_names {
            if let GeneralName::DNSName(d) = general {
                names.push(normal(d));
            }
        }
    }
    Ok(Leaf {
        serial: hex::encode(cert.tbs_certificate.raw_serial()),
        not_before: time(cert.validity().not_before)?,
        not_after: time(cert.validity().not_after)?,
        issuer: cert.issuer().to_string(),
        names,
        der,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csr_pem(names: &[&str]) -> String {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.serialize_request(&key).unwrap().pem().unwrap()
    }

    #[test]
    fn a_csr_for_exactly_the_name_passes() {
        let der = check_csr(&csr_pem(&["sipd.example.go.id"]), "SIPD.example.go.id.").unwrap();
        assert!(!der.is_empty());
    }

    #[test]
    fn a_common_name_that_differs_is_refused() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        // rcgen's default subject is "CN=rcgen self signed cert".
        let params = rcgen::CertificateParams::new(vec!["a.example".to_string()]).unwrap();
        let pem_text = params.serialize_request(&key).unwrap().pem().unwrap();
        let err = check_csr(&pem_text, "a.example").unwrap_err();
        assert!(err.to_string().contains("rcgen self signed cert"), "{err}");
    }

    #[test]
    fn a_csr_for_other_or_more_names_is_refused() {
        let err = check_csr(&csr_pem(&["other.example.go.id"]), "sipd.example.go.id").unwrap_err();
        assert!(matches!(err, X509Error::WrongNames { .. }), "{err}");
        let err = check_csr(
            &csr_pem(&["sipd.example.go.id", "www.sipd.example.go.id"]),
            "sipd.example.go.id",
        )
        .unwrap_err();
        assert!(err.to_string().contains("www.sipd.example.go.id"), "{err}");
    }

    #[test]
    fn garbage_and_tampered_csrs_are_refused() {
        assert!(matches!(
            check_csr("hello", "a.example"),
            Err(X509Error::NotACsr(_))
        ));
        let pem_text = csr_pem(&["a.example"]);
        let mut block = pem::parse(&pem_text).unwrap();
        let mut der = block.contents().to_vec();
        // Flip a byte inside the signed part (the name): the signature no longer verifies.
        let at = der.windows(9).position(|w| w == b"a.example").unwrap();
        der[at] = b'b';
        block = pem::Pem::new("CERTIFICATE REQUEST", der);
        let err = check_csr(&pem::encode(&block), "b.example").unwrap_err();
        assert!(matches!(err, X509Error::BadSignature(_)), "{err}");
    }

    #[test]
    fn a_managed_key_makes_a_csr_that_checks() {
        let key = new_key().unwrap();
        assert!(key.contains("BEGIN PRIVATE KEY"));
        let der = csr_for("sipd.example.go.id", &key).unwrap();
        let pem_text = pem::encode(&pem::Pem::new("CERTIFICATE REQUEST", der));
        check_csr(&pem_text, "sipd.example.go.id").unwrap();
    }

    #[test]
    fn reads_a_leaf() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = rcgen::CertificateParams::new(vec!["sipd.example.go.id".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let leaf = leaf_of(&cert.pem()).unwrap();
        assert_eq!(leaf.names, vec!["sipd.example.go.id".to_string()]);
        assert!(leaf.not_after > leaf.not_before);
        assert!(!leaf.serial.is_empty());
        assert!(leaf_of("nothing here").is_err());
    }
}
