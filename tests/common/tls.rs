//! Certificates for the TLS tests, made with `openssl` as an operator would.

use std::path::Path;
use std::process::Command;

use super::store::Error;

/// Runs `openssl` with `args` in `dir`.
pub fn openssl(dir: &Path, args: &[&str]) -> Result<(), Error> {
    let output = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()?;
    if !output.status.success() {
        return Err(format!(
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    Ok(())
}

/// A CA (`ca.pem`) and, signed by it, `server.pem` / `server.key` for
/// 127.0.0.1 and localhost with the subject `CN=<cn>`.
pub fn certificates(dir: &Path, cn: &str) -> Result<(), Error> {
    signed(dir, "next", cn, "subjectAltName=IP:127.0.0.1,DNS:localhost")?;
    // Replace both files by rename, as a certificate manager does.
    std::fs::rename(dir.join("next.key"), dir.join("server.key"))?;
    std::fs::rename(dir.join("next.pem"), dir.join("server.pem"))?;
    Ok(())
}

/// A client certificate `client.pem` / `client.key` (`CN=<cn>`) signed by
/// `dir`'s CA (made first if missing), for brokers that ask for one.
pub fn client_certificate(dir: &Path, cn: &str) -> Result<(), Error> {
    signed(dir, "client", cn, "extendedKeyUsage=clientAuth")
}

/// `<name>.key` and `<name>.pem` (P-256, `CN=<cn>`, extension `ext`), signed
/// by `dir`'s CA, which is made first when `ca.pem` is missing.
fn signed(dir: &Path, name: &str, cn: &str, ext: &str) -> Result<(), Error> {
    const KEY: [&str; 4] = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
    if !dir.join("ca.pem").exists() {
        let mut args = vec!["req", "-x509"];
        args.extend(KEY);
        args.extend(["-nodes", "-keyout", "ca.key", "-out", "ca.pem"]);
        args.extend(["-days", "2", "-subj", "/CN=weir-test-ca"]);
        openssl(dir, &args)?;
    }
    let ext_file = format!("{name}.ext");
    std::fs::write(dir.join(&ext_file), format!("{ext}\n"))?;
    let (key, csr, pem) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.pem"),
    );
    let subject = format!("/CN={cn}");
    let mut args = vec!["req"];
    args.extend(KEY);
    args.extend(["-nodes", "-keyout", &key, "-out", &csr, "-subj", &subject]);
    openssl(dir, &args)?;
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &pem,
            "-days",
            "2",
            "-extfile",
            &ext_file,
        ],
    )
}
