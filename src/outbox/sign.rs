//! PAdES signatures of the documents ranah makes (the response letter, the handover minutes,
//! the confirmation letter, the register): a CMS SignedData over the whole file but the
//! signature's own bytes (ETSI.CAdES.detached, PAdES baseline B-B: content type, message digest
//! and the signing certificate (v2) among the signed attributes; the time in the signature's
//! `/M`), which any PDF reader verifies, and which fails when a byte changes.
//!
//! The office's certificate and private key (PKCS#8, ECDSA P-256 or RSA) are read once at start
//! (`[signing]`); without them documents are made unsigned and say so.

use chrono::{DateTime, Utc};
use cms::builder::{SignedDataBuilder, SignerInfoBuilder};
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::signed_data::{EncapsulatedContentInfo, SignerIdentifier};
use const_oid::db::{rfc5911, rfc5912};
use der::asn1::{BitString, Null, OctetString, SetOfVec};
use der::{Any, Decode, Encode, Sequence};
use lopdf::{Document, Object, ObjectId, StringFormat, dictionary};
use ring::rand::SystemRandom;
use ring::signature as rs;
use sha2::{Digest, Sha256};
use spki::{AlgorithmIdentifierOwned, DynSignatureAlgorithmIdentifier, SignatureBitStringEncoding};
use x509_cert::Certificate;
use x509_cert::attr::Attribute;

/// What an unsigned document says of itself.
pub const UNSIGNED: &str = "Dokumen ini tidak ditandatangani secara elektronik.";

/// What a document says of its signature: signed by the office's certificate (its name), or
/// unsigned.
pub fn note(signer: Option<&PdfSigner>) -> String {
    match signer {
        Some(s) => format!(
            "Ditandatangani secara elektronik oleh {}; keabsahannya dapat diperiksa dengan pembaca PDF.",
            s.name()
        ),
        None => UNSIGNED.to_owned(),
    }
}

/// `pdf` signed by `signer` at `at`, or as it is without one.
pub fn finish(
    pdf: Vec<u8>,
    signer: Option<&PdfSigner>,
    reason: &str,
    at: DateTime<Utc>,
) -> Result<Vec<u8>, SignError> {
    match signer {
        Some(s) => s.sign(&pdf, reason, at),
        None => Ok(pdf),
    }
}

/// Why a signer cannot be made or a document signed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The certificate file cannot be read or holds no certificate.
    #[error("the signing certificate: {0}")]
    Certificate(String),
    /// The key file cannot be read, is not PKCS#8, or is not the certificate's.
    #[error("the signing key: {0}")]
    Key(String),
    /// The document could not be signed (a fault of ours).
    #[error("cannot sign the document: {0}")]
    Document(String),
}

/// Bytes kept for the signature in the file: a certificate chain of a few certificates and the
/// signature fit.
const SIGNATURE_BYTES: usize = 16 * 1024;
/// The widest number a byte range may need, written as a placeholder of fixed width.
const RANGE_PLACEHOLDER: i64 = 9_999_999_999;

// RFC 5035: ESSCertIDv2 (hashAlgorithm omitted: its DEFAULT, SHA-256; issuerSerial omitted).
#[derive(Sequence)]
struct EssCertIdV2 {
    cert_hash: OctetString,
}

#[derive(Sequence)]
struct SigningCertificateV2 {
    certs: Vec<EssCertIdV2>,
}

/// The key, as ring holds it.
enum Key {
    Ec(rs::EcdsaKeyPair),
    Rsa(rs::RsaKeyPair),
}

/// ring's key as the CMS builder's signer.
struct RingSigner {
    key: Key,
    rng: SystemRandom,
}

/// The builder asks for a verifying key it never uses.
#[derive(Clone)]
struct NoVerifyingKey;

/// A signature as ring made it (DER for ECDSA, the raw block for RSA): what CMS carries.
struct RawSignature(Vec<u8>);

impl SignatureBitStringEncoding for RawSignature {
    fn to_bitstring(&self) -> der::Result<BitString> {
        BitString::from_bytes(&self.0)
    }
}

impl signature::Keypair for RingSigner {
    type VerifyingKey = NoVerifyingKey;
    fn verifying_key(&self) -> NoVerifyingKey {
        NoVerifyingKey
    }
}

impl DynSignatureAlgorithmIdentifier for RingSigner {
    fn signature_algorithm_identifier(&self) -> spki::Result<AlgorithmIdentifierOwned> {
        Ok(match self.key {
            Key::Ec(_) => AlgorithmIdentifierOwned {
                oid: rfc5912::ECDSA_WITH_SHA_256,
                parameters: None,
            },
            Key::Rsa(_) => AlgorithmIdentifierOwned {
                oid: rfc5912::SHA_256_WITH_RSA_ENCRYPTION,
                parameters: Some(Any::from(Null)),
            },
        })
    }
}

impl signature::Signer<RawSignature> for RingSigner {
    fn try_sign(&self, msg: &[u8]) -> Result<RawSignature, signature::Error> {
        match &self.key {
            Key::Ec(k) => k
                .sign(&self.rng, msg)
                .map(|s| RawSignature(s.as_ref().to_vec()))
                .map_err(|_| signature::Error::new()),
            Key::Rsa(k) => {
                let mut out = vec![0; k.public().modulus_len()];
                k.sign(&rs::RSA_PKCS1_SHA256, &self.rng, msg, &mut out)
                    .map_err(|_| signature::Error::new())?;
                Ok(RawSignature(out))
            }
        }
    }
}

/// The office's signer: its certificate (and the chain above it) and key.
pub struct PdfSigner {
    chain: Vec<Certificate>,
    signer: RingSigner,
    name: String,
}

impl std::fmt::Debug for PdfSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PdfSigner")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl PdfSigner {
    /// The signer from a PEM certificate file (the signer's first, then its chain) and a PEM
    /// PKCS#8 key file, checked to belong together.
    pub fn load(certificate: &[u8], key: &[u8]) -> Result<Self, SignError> {
        let chain: Vec<Certificate> = pem::parse_many(certificate)
            .map_err(|e| SignError::Certificate(e.to_string()))?
            .into_iter()
            .filter(|p| p.tag() == "CERTIFICATE")
            .map(|p| Certificate::from_der(p.contents()))
            .collect::<Result<_, _>>()
            .map_err(|e| SignError::Certificate(e.to_string()))?;
        let Some(first) = chain.first() else {
            return Err(SignError::Certificate(
                "no CERTIFICATE in the file (PEM)".into(),
            ));
        };
        let key = pem::parse(key).map_err(|e| SignError::Key(e.to_string()))?;
        if key.tag() != "PRIVATE KEY" {
            return Err(SignError::Key(format!(
                "a PKCS#8 key (\"PRIVATE KEY\") is needed, not \"{}\" (convert with openssl pkcs8 \
                 -topk8 -nocrypt)",
                key.tag()
            )));
        }
        let rng = SystemRandom::new();
        let pkcs8 = key.contents();
        let (key, public) =
            match rs::EcdsaKeyPair::from_pkcs8(&rs::ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8, &rng) {
                Ok(k) => {
                    let public = rs::KeyPair::public_key(&k).as_ref().to_vec();
                    (Key::Ec(k), public)
                }
                Err(_) => {
                    let k = rs::RsaKeyPair::from_pkcs8(pkcs8).map_err(|e| {
                        SignError::Key(format!("neither an ECDSA P-256 nor an RSA key: {e}"))
                    })?;
                    let public = rs::KeyPair::public_key(&k).as_ref().to_vec();
                    (Key::Rsa(k), public)
                }
            };
        let spki = first
            .tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes();
        if spki != public.as_slice() {
            return Err(SignError::Key(
                "the key is not the certificate's (their public keys differ)".into(),
            ));
        }
        let der = first
            .to_der()
            .map_err(|e| SignError::Certificate(e.to_string()))?;
        let name = x509_parser::parse_x509_certificate(&der)
            .ok()
            .and_then(|(_, c)| {
                c.subject()
                    .iter_common_name()
                    .next()
                    .and_then(|cn| cn.as_str().ok())
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| "ranah".into());
        let signer = Self {
            chain,
            signer: RingSigner { key, rng },
            name,
        };
        // A first signature now, not at the first approval: a chain too long for the room
        // kept for it stops the start.
        signer.cms(&[0u8; 32]).and_then(|cms| {
            if cms.len() > SIGNATURE_BYTES {
                Err(SignError::Certificate(format!(
                    "a signature with this chain takes {} bytes, more than the {SIGNATURE_BYTES} \
                     a document keeps for it: give the signer's certificate and fewer of those \
                     above it",
                    cms.len()
                )))
            } else {
                Ok(())
            }
        })?;
        Ok(signer)
    }

    /// The signer's name: the certificate's common name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The CMS SignedData over `digest` (SHA-256 of the signed byte ranges).
    fn cms(&self, digest: &[u8]) -> Result<Vec<u8>, SignError> {
        let fault = |e: &dyn std::fmt::Display| SignError::Document(e.to_string());
        let cert = &self.chain[0];
        let cert_der = cert.to_der().map_err(|e| fault(&e))?;
        let v2 = SigningCertificateV2 {
            certs: vec![EssCertIdV2 {
                cert_hash: OctetString::new(Sha256::digest(&cert_der).to_vec())
                    .map_err(|e| fault(&e))?,
            }],
        };
        let mut values = SetOfVec::new();
        values
            .insert(Any::from_der(&v2.to_der().map_err(|e| fault(&e))?).map_err(|e| fault(&e))?)
            .map_err(|e| fault(&e))?;
        let signing_certificate = Attribute {
            oid: rfc5911::ID_AA_SIGNING_CERTIFICATE_V_2,
            values,
        };
        let content = EncapsulatedContentInfo {
            econtent_type: rfc5911::ID_DATA,
            econtent: None,
        };
        let sha256 = AlgorithmIdentifierOwned {
            oid: rfc5912::ID_SHA_256,
            parameters: None,
        };
        let sid = SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: cert.tbs_certificate.issuer.clone(),
            serial_number: cert.tbs_certificate.serial_number.clone(),
        });
        let mut info =
            SignerInfoBuilder::new(&self.signer, sid, sha256.clone(), &content, Some(digest))
                .map_err(|e| fault(&e))?;
        info.add_signed_attribute(signing_certificate)
            .map_err(|e| fault(&e))?;
        let mut data = SignedDataBuilder::new(&content);
        data.add_digest_algorithm(sha256).map_err(|e| fault(&e))?;
        for c in &self.chain {
            data.add_certificate(CertificateChoices::Certificate(c.clone()))
                .map_err(|e| fault(&e))?;
        }
        data.add_signer_info::<_, RawSignature>(info)
            .map_err(|e| fault(&e))?;
        data.build()
            .map_err(|e| fault(&e))?
            .to_der()
            .map_err(|e| fault(&e))
    }

    /// `pdf` signed at `at`, for `reason` (shown by readers).
    pub fn sign(&self, pdf: &[u8], reason: &str, at: DateTime<Utc>) -> Result<Vec<u8>, SignError> {
        let fault = |e: &dyn std::fmt::Display| SignError::Document(e.to_string());
        let mut doc = Document::load_mem(pdf).map_err(|e| fault(&e))?;
        let first_page: ObjectId = *doc
            .get_pages()
            .values()
            .next()
            .ok_or_else(|| SignError::Document("the document has no page".into()))?;
        let catalog = doc
            .trailer
            .get(b"Root")
            .and_then(Object::as_reference)
            .map_err(|e| fault(&e))?;
        let signature = doc.add_object(dictionary! {
            "Type" => "Sig",
            "Filter" => "Adobe.PPKLite",
            "SubFilter" => "ETSI.CAdES.detached",
            "ByteRange" => vec![
                0.into(),
                RANGE_PLACEHOLDER.into(),
                RANGE_PLACEHOLDER.into(),
                RANGE_PLACEHOLDER.into(),
            ],
            "Contents" => Object::String(vec![0u8; SIGNATURE_BYTES], StringFormat::Hexadecimal),
            "M" => Object::string_literal(at.format("D:%Y%m%d%H%M%S+00'00'").to_string()),
            "Name" => text(&self.name),
            "Reason" => text(reason),
        });
        let field = doc.add_object(dictionary! {
            "Type" => "Annot",
            "Subtype" => "Widget",
            "FT" => "Sig",
            "T" => Object::string_literal("ranah"),
            "V" => signature,
            "Rect" => vec![0.into(), 0.into(), 0.into(), 0.into()],
            // Print and locked: an invisible field that nothing edits.
            "F" => 132,
            "P" => first_page,
        });
        if let Ok(Object::Dictionary(page)) = doc.get_object_mut(first_page) {
            let mut annots = match page.get(b"Annots") {
                Ok(Object::Array(a)) => a.clone(),
                _ => Vec::new(),
            };
            annots.push(field.into());
            page.set("Annots", annots);
        }
        match doc.get_object_mut(catalog) {
            Ok(Object::Dictionary(c)) => c.set(
                "AcroForm",
                dictionary! { "Fields" => vec![field.into()], "SigFlags" => 3 },
            ),
            _ => return Err(SignError::Document("the document has no catalog".into())),
        }
        let mut out = Vec::with_capacity(pdf.len() + SIGNATURE_BYTES * 2 + 1024);
        doc.save_to(&mut out).map_err(|e| fault(&e))?;
        // The placeholders, found in the file as written: the signature's hex string (its
        // angle brackets stay outside the signed ranges) and the byte range, rewritten at the
        // same width.
        let hex_placeholder: Vec<u8> =
            [b"<".as_slice(), &[b'0'; SIGNATURE_BYTES * 2], b">"].concat();
        let c0 = find(&out, &hex_placeholder).ok_or_else(|| {
            SignError::Document("the signature's place is not in the file".into())
        })?;
        let c1 = c0 + hex_placeholder.len();
        let range_placeholder = format!("[0 {p} {p} {p}]", p = RANGE_PLACEHOLDER).into_bytes();
        let b0 = find(&out, &range_placeholder)
            .ok_or_else(|| SignError::Document("the byte range is not in the file".into()))?;
        let range = format!("[0 {c0} {c1} {}", out.len() - c1);
        let range = format!("{range:<width$}]", width = range_placeholder.len() - 1);
        if range.len() != range_placeholder.len() {
            return Err(SignError::Document("the byte range does not fit".into()));
        }
        out[b0..b0 + range.len()].copy_from_slice(range.as_bytes());
        let digest = Sha256::new()
            .chain_update(&out[..c0])
            .chain_update(&out[c1..])
            .finalize();
        let cms = self.cms(&digest)?;
        if cms.len() > SIGNATURE_BYTES {
            return Err(SignError::Document(format!(
                "the signature takes {} bytes, more than the {SIGNATURE_BYTES} kept for it (a \
                 shorter certificate chain?)",
                cms.len()
            )));
        }
        let hex = hex::encode_upper(&cms);
        out[c0 + 1..c0 + 1 + hex.len()].copy_from_slice(hex.as_bytes());
        Ok(out)
    }
}

/// A PDF text string: literal when ASCII, UTF-16BE with its byte-order mark otherwise.
fn text(s: &str) -> Object {
    if s.is_ascii() {
        Object::string_literal(s)
    } else {
        let mut bytes = vec![0xFE, 0xFF];
        for unit in s.encode_utf16() {
            bytes.extend_from_slice(&unit.to_be_bytes());
        }
        Object::String(bytes, StringFormat::Hexadecimal)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate and its PKCS#8 key, as an office's test would make them.
    fn office_key() -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Kepala Dinas Contoh");
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn one_page() -> Vec<u8> {
        let (doc, page, layer) =
            printpdf::PdfDocument::new("t", printpdf::Mm(210.0), printpdf::Mm(297.0), "l");
        let font = doc
            .add_builtin_font(printpdf::BuiltinFont::Helvetica)
            .unwrap();
        doc.get_page(page).get_layer(layer).use_text(
            "Berita Acara",
            12.0,
            printpdf::Mm(20.0),
            printpdf::Mm(270.0),
            &font,
        );
        doc.save_to_bytes().unwrap()
    }

    #[test]
    fn a_document_is_signed_over_all_its_bytes_but_the_signature() {
        let (cert, key) = office_key();
        let signer = PdfSigner::load(cert.as_bytes(), key.as_bytes()).unwrap();
        assert_eq!(signer.name(), "Kepala Dinas Contoh");
        let signed = signer
            .sign(&one_page(), "Dokumen resmi", Utc::now())
            .unwrap();
        // The byte range covers the file but the signature's hex string.
        let text = String::from_utf8_lossy(&signed);
        let at = text.find("/ByteRange").unwrap();
        let open = at + text[at..].find('[').unwrap();
        let range: Vec<usize> = text[open + 1..]
            .split(']')
            .next()
            .unwrap()
            .split_whitespace()
            .map(|n| n.parse().unwrap())
            .collect();
        assert_eq!(range[0], 0);
        assert_eq!(range[2] + range[3], signed.len());
        assert_eq!(signed[range[1]], b'<');
        assert_eq!(signed[range[2] - 1], b'>');
        assert!(text.contains("ETSI.CAdES.detached"));
    }

    #[test]
    fn a_key_that_is_not_the_certificates_is_refused() {
        let (cert, _) = office_key();
        let (_, other) = office_key();
        let e = PdfSigner::load(cert.as_bytes(), other.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("not the certificate's"), "{e}");
        let e = PdfSigner::load(b"nothing", other.as_bytes()).unwrap_err();
        assert!(matches!(e, SignError::Certificate(_)), "{e}");
        let sec1 = "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n";
        let e = PdfSigner::load(cert.as_bytes(), sec1.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("PKCS#8"), "{e}");
    }
}
