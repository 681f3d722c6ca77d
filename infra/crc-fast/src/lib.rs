//! The part of [crc-fast](https://crates.io/crates/crc-fast)'s API that the AWS SDK's
//! `aws-smithy-checksums` uses, for the three CRCs S3 checksums are made of.
//!
//! Why this exists: crc-fast's portable fallback picks its lookup table from a `match` over
//! every CRC it knows (more than a hundred), so every function that calls it — every function
//! that reads or writes an S3 object — carries all of those tables: about 0.7 MB of a 5-9 MB
//! Lambda binary, downloaded and paged in on each cold start. The workspace manifest patches
//! `crc-fast` with this crate, which hands each algorithm to a well-kept single-purpose crate
//! (hardware-accelerated where the CPU allows, each with its own small fallback table):
//! `crc32fast` (CRC-32/ISO-HDLC), `crc32c` (CRC-32/ISCSI) and `crc64fast-nvme` (CRC-64/NVME) —
//! the same three that aws-smithy-checksums used before it moved to crc-fast. (The functions' S3
//! client computes checksums only where S3 requires them, so this is linked more than it is run;
//! the check values below are what holds it right.)
//!
//! Only the items aws-smithy-checksums calls are here (and `Digest::reset`). A new SDK release that calls more fails
//! to build, not at run time; the check values below pin the results.

use std::fmt;

/// The CRC algorithms S3 computes and validates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CrcAlgorithm {
    /// CRC-32 as in zlib and Ethernet (S3 `CRC32`).
    Crc32IsoHdlc,
    /// CRC-32C, Castagnoli (S3 `CRC32C`).
    Crc32Iscsi,
    /// CRC-64/NVME (S3 `CRC64NVME`).
    Crc64Nvme,
}

#[derive(Clone)]
enum State {
    Crc32IsoHdlc(crc32fast::Hasher),
    Crc32Iscsi(u32),
    Crc64Nvme(crc64fast_nvme::Digest),
}

/// A running checksum of one algorithm.
#[derive(Clone)]
pub struct Digest {
    algorithm: CrcAlgorithm,
    state: State,
}

impl Digest {
    /// An empty checksum of `algorithm`.
    #[must_use]
    pub fn new(algorithm: CrcAlgorithm) -> Self {
        let state = match algorithm {
            CrcAlgorithm::Crc32IsoHdlc => State::Crc32IsoHdlc(crc32fast::Hasher::new()),
            CrcAlgorithm::Crc32Iscsi => State::Crc32Iscsi(0),
            CrcAlgorithm::Crc64Nvme => State::Crc64Nvme(crc64fast_nvme::Digest::new()),
        };
        Self { algorithm, state }
    }

    /// Adds `data` to the checksum.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.state {
            State::Crc32IsoHdlc(hasher) => hasher.update(data),
            State::Crc32Iscsi(crc) => *crc = crc32c::crc32c_append(*crc, data),
            State::Crc64Nvme(digest) => digest.write(data),
        }
    }

    /// The checksum of everything added so far (a 32-bit CRC in the low bits).
    #[must_use]
    pub fn finalize(&self) -> u64 {
        match &self.state {
            State::Crc32IsoHdlc(hasher) => u64::from(hasher.clone().finalize()),
            State::Crc32Iscsi(crc) => u64::from(*crc),
            State::Crc64Nvme(digest) => digest.sum64(),
        }
    }

    /// Starts over, as [`Digest::new`] with the same algorithm.
    pub fn reset(&mut self) {
        *self = Self::new(self.algorithm);
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Digest").field("algorithm", &self.algorithm).field("checksum", &self.finalize()).finish()
    }
}

/// The checksum of `data` under `algorithm`.
#[must_use]
pub fn checksum(algorithm: CrcAlgorithm, data: &[u8]) -> u64 {
    let mut digest = Digest::new(algorithm);
    digest.update(data);
    digest.finalize()
}

#[cfg(test)]
mod tests {
    use super::{checksum, CrcAlgorithm, Digest};

    // The catalogue's check values: the CRC of the nine ASCII bytes "123456789"
    // (https://reveng.sourceforge.io/crc-catalogue/).
    const CHECK: &[u8] = b"123456789";

    #[test]
    fn check_values_match_the_crc_catalogue() {
        assert_eq!(checksum(CrcAlgorithm::Crc32IsoHdlc, CHECK), 0xCBF4_3926);
        assert_eq!(checksum(CrcAlgorithm::Crc32Iscsi, CHECK), 0xE306_9283);
        assert_eq!(checksum(CrcAlgorithm::Crc64Nvme, CHECK), 0xAE8B_1486_0A79_9888);
    }

    #[test]
    fn the_empty_input_has_the_initial_value_of_each_algorithm() {
        for algorithm in [CrcAlgorithm::Crc32IsoHdlc, CrcAlgorithm::Crc32Iscsi, CrcAlgorithm::Crc64Nvme] {
            assert_eq!(checksum(algorithm, b""), 0, "{algorithm:?}");
        }
    }

    #[test]
    fn updates_in_pieces_equal_one_update_and_finalize_does_not_consume() {
        // Long enough for the accelerated paths, cut at odd places.
        let data: Vec<u8> = (0..100_003u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        for algorithm in [CrcAlgorithm::Crc32IsoHdlc, CrcAlgorithm::Crc32Iscsi, CrcAlgorithm::Crc64Nvme] {
            let whole = checksum(algorithm, &data);
            let mut digest = Digest::new(algorithm);
            for piece in data.chunks(4_099) {
                digest.update(piece);
            }
            assert_eq!(digest.finalize(), whole, "{algorithm:?}");
            assert_eq!(digest.finalize(), whole, "{algorithm:?}: finalize twice");
            digest.reset();
            assert_eq!(digest.finalize(), 0, "{algorithm:?}: reset");
            digest.update(CHECK);
            assert_eq!(digest.finalize(), checksum(algorithm, CHECK), "{algorithm:?}: after reset");
        }
    }
}
