//! Turns the Amazon RDS CA bundle (`certs/rds-ca-bundle.pem`, refreshed by
//! `infra/scripts/update-rds-ca.sh`) into DER once, at build time, so that the functions carry
//! the certificates without their base64 and never parse PEM on a cold start.

use std::fmt::Write as _;
use std::path::PathBuf;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

fn main() {
    let bundle = "certs/rds-ca-bundle.pem";
    println!("cargo::rerun-if-changed={bundle}");
    let mut source = String::from(
        "/// The Amazon RDS CA bundle, one DER certificate an entry.\npub(crate) static RDS_CA: &[&[u8]] = &[\n",
    );
    let mut count = 0;
    for cert in CertificateDer::pem_file_iter(bundle).expect("certs/rds-ca-bundle.pem is readable") {
        let cert = cert.expect("certs/rds-ca-bundle.pem holds only certificates");
        writeln!(source, "    &{:?},", cert.as_ref()).expect("writing to a String");
        count += 1;
    }
    assert!(count > 0, "certs/rds-ca-bundle.pem holds no certificate");
    source.push_str("];\n");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("rds_ca.rs");
    std::fs::write(out, source).expect("OUT_DIR is writable");
}
