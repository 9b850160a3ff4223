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
    if !dir.join("ca.pem").exists() {
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=weir-test-ca",
            ],
        )?;
    }
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )?;
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "next.key",
            "-out",
            "server.csr",
            "-subj",
            &format!("/CN={cn}"),
        ],
    )?;
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "next.pem",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ],
    )?;
    // Replace both files by rename, as a certificate manager does.
    std::fs::rename(dir.join("next.key"), dir.join("server.key"))?;
    std::fs::rename(dir.join("next.pem"), dir.join("server.pem"))?;
    Ok(())
}
