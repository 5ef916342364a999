//! Linkwell's own token keys: ES256 (P-256) key pairs, read from and written to PEM files,
//! each named by its RFC 7638 JWK thumbprint (the `kid` in a token's header) and published
//! as a public JWK so other services can verify Linkwell's tokens without any shared secret.

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::elliptic_curve::zeroize::Zeroizing;
use p256::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use p256::{PublicKey, SecretKey};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

/// A key that could not be read, made or written; the reason never holds key material.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(pub String);

/// A private P-256 key that signs tokens. Its `Debug` shows the `kid` only.
#[derive(Clone)]
pub struct SigningKey {
    secret: SecretKey,
    public: VerifyKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.public.kid)
            .field("private", &"redacted")
            .finish()
    }
}

impl SigningKey {
    /// A fresh key, from the thread's CSPRNG (ChaCha, seeded and reseeded from the OS).
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        loop {
            rand::rng().fill_bytes(bytes.as_mut());
            // Fails only for zero or a value past the curve order: about 2^-32 of draws.
            if let Ok(secret) = SecretKey::from_slice(bytes.as_ref()) {
                return Self::from_secret(secret);
            }
        }
    }

    /// Reads a PKCS#8 PEM P-256 private key (`-----BEGIN PRIVATE KEY-----`).
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        SecretKey::from_pkcs8_pem(pem.trim())
            .map(Self::from_secret)
            .map_err(|_| {
                KeyError(
                    "it is not a PKCS#8 PEM P-256 private key (`-----BEGIN PRIVATE KEY-----`; \
                     make one with `linkwell keygen --out PATH`)"
                        .into(),
                )
            })
    }

    fn from_secret(secret: SecretKey) -> Self {
        let public = VerifyKey::from_public(secret.public_key());
        Self { secret, public }
    }

    /// The key as PKCS#8 PEM, wiped from memory when dropped.
    pub fn to_pem(&self) -> Result<Zeroizing<String>, KeyError> {
        self.secret
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| KeyError(format!("encoding the key: {e}")))
    }

    /// The public half: what verifies this key's tokens.
    pub fn public(&self) -> &VerifyKey {
        &self.public
    }

    /// The key's id: its RFC 7638 thumbprint.
    pub fn kid(&self) -> &str {
        &self.public.kid
    }

    /// The key as jsonwebtoken signs with it (PKCS#8 DER).
    pub fn encoding_key(&self) -> Result<jsonwebtoken::EncodingKey, KeyError> {
        let der = self
            .secret
            .to_pkcs8_der()
            .map_err(|e| KeyError(format!("encoding the key: {e}")))?;
        Ok(jsonwebtoken::EncodingKey::from_ec_der(der.as_bytes()))
    }

    /// The private scalar, for deriving other server-side keys (the cursor key) from this
    /// one, so no second secret needs managing.
    pub(crate) fn secret_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.secret.to_bytes().to_vec())
    }

    /// Writes a new key to `path`, readable by its owner only (0600), never over an existing
    /// file: `create_new` also makes the first of two processes starting at once win.
    pub fn create_file(path: &Path) -> Result<Self, std::io::Error> {
        let key = Self::generate();
        let pem = key.to_pem().map_err(|e| std::io::Error::other(e.0))?;
        let mut file = create_private(path)?;
        file.write_all(pem.as_bytes())?;
        file.sync_all()?;
        Ok(key)
    }

    /// Reads the private key in `path`.
    pub fn read_file(path: &Path) -> Result<Self, KeyError> {
        warn_if_shared(path);
        let pem = Zeroizing::new(read(path)?);
        Self::from_pem(&pem)
    }
}

/// A public P-256 key that verifies tokens, with its `kid` and JWK coordinates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyKey {
    public: PublicKey,
    kid: String,
    x: String,
    y: String,
}

impl VerifyKey {
    fn from_public(public: PublicKey) -> Self {
        let point = public.to_encoded_point(false);
        let coordinate = |c: Option<&p256::FieldBytes>| {
            URL_SAFE_NO_PAD.encode(c.map(|b| &b[..]).unwrap_or_default())
        };
        let (x, y) = (coordinate(point.x()), coordinate(point.y()));
        // RFC 7638 §3.2: the required members in lexicographic order, no whitespace.
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
        Self { public, kid, x, y }
    }

    /// Reads a key that still verifies: an SPKI PEM public key (`-----BEGIN PUBLIC KEY-----`),
    /// or a PKCS#8 PEM private key, of which only the public half is kept.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        if pem.contains("PRIVATE KEY") {
            return SigningKey::from_pem(pem).map(|key| key.public);
        }
        PublicKey::from_public_key_pem(pem.trim())
            .map(Self::from_public)
            .map_err(|_| {
                KeyError(
                    "it is neither an SPKI PEM P-256 public key (`-----BEGIN PUBLIC KEY-----`) \
                     nor a PKCS#8 PEM P-256 private key"
                        .into(),
                )
            })
    }

    /// Reads the key in `path`.
    pub fn read_file(path: &Path) -> Result<Self, KeyError> {
        let pem = Zeroizing::new(read(path)?);
        Self::from_pem(&pem)
    }

    /// The key as SPKI PEM.
    pub fn to_pem(&self) -> Result<String, KeyError> {
        self.public
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| KeyError(format!("encoding the key: {e}")))
    }

    /// The key's id: its RFC 7638 JWK thumbprint (SHA-256, base64url).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The key as a public JWK.
    pub fn jwk(&self) -> Jwk {
        Jwk {
            kty: "EC".into(),
            crv: "P-256".into(),
            x: self.x.clone(),
            y: self.y.clone(),
            kid: self.kid.clone(),
            alg: "ES256".into(),
            key_use: "sig".into(),
        }
    }

    /// The key as jsonwebtoken verifies with it (the uncompressed SEC1 point).
    pub fn decoding_key(&self) -> jsonwebtoken::DecodingKey {
        jsonwebtoken::DecodingKey::from_ec_der(self.public.to_encoded_point(false).as_bytes())
    }
}

/// A public key that verifies Linkwell's tokens (RFC 7517, RFC 7518 §6.2.1); never any
/// private part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = jwk)]
pub struct Jwk {
    /// Key type: always `EC`.
    #[schema(example = "EC", max_length = 2)]
    pub kty: String,
    /// Curve: always `P-256`.
    #[schema(example = "P-256", max_length = 5)]
    pub crv: String,
    /// The x coordinate, base64url.
    #[schema(max_length = 43)]
    pub x: String,
    /// The y coordinate, base64url.
    #[schema(max_length = 43)]
    pub y: String,
    /// Key id, the RFC 7638 JWK thumbprint (SHA-256): a token's header names its key by it.
    #[schema(max_length = 43)]
    pub kid: String,
    /// Algorithm: always `ES256`.
    #[schema(example = "ES256", max_length = 5)]
    pub alg: String,
    /// Use: always `sig` (signature).
    #[serde(rename = "use")]
    #[schema(example = "sig", max_length = 3)]
    pub key_use: String,
}

/// The public keys that verify Linkwell's tokens: the signing key first, then older keys
/// still accepted (RFC 7517 §5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = jwks)]
pub struct Jwks {
    #[schema(max_items = 16)]
    pub keys: Vec<Jwk>,
}

fn read(path: &Path) -> Result<String, KeyError> {
    fs::read_to_string(path).map_err(|e| KeyError(e.to_string()))
}

/// Anyone who can read the private key can sign tokens for any role.
fn warn_if_shared(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            log::warn!(
                "the signing key file {} is readable by others; run `chmod 600` on it",
                path.display()
            );
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(unix)]
fn create_private(path: &Path) -> std::io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn create_private(path: &Path) -> std::io::Result<fs::File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_survives_pem_and_its_kid_is_the_rfc_7638_thumbprint() {
        // RFC 7638 defines the input; this key's members, hashed by hand, give its kid.
        let key = SigningKey::generate();
        let pem = key.to_pem().map(|p| p.to_string()).unwrap_or_default();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let again = SigningKey::from_pem(&pem).map(|k| k.kid().to_owned()).ok();
        assert_eq!(again.as_deref(), Some(key.kid()));
        let jwk = key.public().jwk();
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            jwk.x, jwk.y
        );
        assert_eq!(
            jwk.kid,
            URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
        );
        assert_eq!(jwk.kid.len(), 43);
        let public = key.public().to_pem().unwrap_or_default();
        assert!(public.starts_with("-----BEGIN PUBLIC KEY-----"));
        assert_eq!(
            VerifyKey::from_pem(&public).ok().as_ref(),
            Some(key.public())
        );
        assert_eq!(VerifyKey::from_pem(&pem).ok().as_ref(), Some(key.public()));
    }

    #[test]
    fn debug_never_shows_the_private_key() {
        let key = SigningKey::generate();
        let shown = format!("{key:?}");
        assert!(shown.contains("redacted") && shown.contains(key.kid()));
        let scalar = key.secret_bytes();
        assert!(!shown.contains(&URL_SAFE_NO_PAD.encode(scalar.as_slice())));
        assert!(!shown.contains(&format!("{:?}", scalar.as_slice())));
    }

    #[test]
    fn other_text_is_not_a_key() {
        assert!(SigningKey::from_pem("not a key").is_err());
        assert!(
            VerifyKey::from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----")
                .is_err()
        );
    }
}
