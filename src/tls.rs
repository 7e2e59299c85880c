//! TLS: the operator's certificate, or in dev mode a self-signed certificate
//! for localhost / 127.0.0.1 generated once under `<data dir>/tls/`.

use std::path::{Path, PathBuf};

use anyhow::Context;

pub struct DevCertificate {
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
    pub created: bool,
}

/// Returns the dev certificate, generating it on first use. Clients trust it
/// by its path (`NODE_EXTRA_CA_CERTS`, `curl --cacert`).
pub fn ensure_dev_certificate(
    data_dir: &Path,
    clock: &crate::clock::Clock,
) -> anyhow::Result<DevCertificate> {
    let dir = data_dir.join("tls");
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    if cert_path.exists() && key_path.exists() {
        return Ok(DevCertificate {
            cert_path,
            key_path,
            created: false,
        });
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut params = rcgen::CertificateParams::new(vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ])?;
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        "Switchyard dev certificate (localhost)",
    );
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let now = clock.now_offset_date_time();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(825);
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let cert = params.self_signed(&key)?;
    write_private(&key_path, key.serialize_pem().as_bytes())?;
    std::fs::write(&cert_path, cert.pem())
        .with_context(|| format!("writing {}", cert_path.display()))?;
    Ok(DevCertificate {
        cert_path,
        key_path,
        created: true,
    })
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(bytes)?;
    Ok(())
}
