//! Certificates made in the test: a CA, server certificates for 127.0.0.1 and client
//! certificates it signs, written to files the broker reads.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

pub struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: Vec<u8>,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        Ca { issuer: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap() }
    }

    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A server certificate for `localhost` and 127.0.0.1, named `name`.
    pub fn server(&self, name: &str) -> Leaf {
        self.leaf(name, vec!["localhost".into(), "127.0.0.1".into()], ExtendedKeyUsagePurpose::ServerAuth)
    }

    pub fn client(&self, name: &str) -> Leaf {
        self.leaf(name, vec![], ExtendedKeyUsagePurpose::ClientAuth)
    }

    fn leaf(&self, name: &str, names: Vec<String>, usage: ExtendedKeyUsagePurpose) -> Leaf {
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf { cert_pem: cert.pem(), key_pem: key.serialize_pem(), der: cert.der().to_vec() }
    }
}

/// A directory of its own for one test's PEM files, removed at the end.
pub struct PemDir {
    dir: PathBuf,
}

impl PemDir {
    pub fn new() -> PemDir {
        let dir = std::env::temp_dir().join(crate::harness::random::id("tb-tls"));
        std::fs::create_dir_all(&dir).unwrap();
        PemDir { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Replaces `name` the way tools that rotate certificates do: write aside, then rename.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.path(name);
        let aside = self.path(&format!(".{name}.new"));
        std::fs::write(&aside, contents).unwrap();
        std::fs::rename(&aside, &path).unwrap();
        path
    }

    /// `cert.pem` and `key.pem` for `leaf`.
    pub fn write_pair(&self, leaf: &Leaf) -> (PathBuf, PathBuf) {
        (self.write("cert.pem", &leaf.cert_pem), self.write("key.pem", &leaf.key_pem))
    }
}

impl Drop for PemDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn env_path(path: &Path) -> String {
    path.to_str().unwrap().to_owned()
}
