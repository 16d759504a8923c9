//! A small seeded generator for the sandbox's generated names and uids (SplitMix64: fast,
//! deterministic for a seed; statistical quality is ample for names).

/// The alphabet Kubernetes uses for generated name suffixes (no vowels, no confusable digits).
pub const NAME_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// `length` characters of [`NAME_ALPHABET`] (`generateName` suffixes are 5).
    pub fn name_suffix(&mut self, length: usize) -> String {
        (0..length)
            .map(|_| {
                let index = (self.next_u64() % NAME_ALPHABET.len() as u64) as usize;
                char::from(NAME_ALPHABET[index])
            })
            .collect()
    }

    /// A version-4-shaped UUID from the generator.
    pub fn uuid(&mut self) -> uuid::Uuid {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        bytes[8..].copy_from_slice(&self.next_u64().to_le_bytes());
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }
}

/// Kubernetes' `SafeEncodeString` of a number's decimal digits: how pod-template-hash and
/// controller-revision-hash values are spelled.
pub fn safe_encode(value: u32) -> String {
    value
        .to_string()
        .bytes()
        .map(|b| char::from(NAME_ALPHABET[usize::from(b) % NAME_ALPHABET.len()]))
        .collect()
}

/// FNV-1a (32 bit), the hash Kubernetes uses for pod templates.
pub fn fnv1a32(bytes: &[u8]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for b in bytes {
        hash ^= u32::from(*b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_names() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        assert_eq!(a.name_suffix(5), b.name_suffix(5));
        assert_eq!(a.uuid(), b.uuid());
        let suffix = SplitMix64::new(1).name_suffix(5);
        assert_eq!(suffix.len(), 5);
        assert!(suffix.bytes().all(|c| NAME_ALPHABET.contains(&c)));
    }

    #[test]
    fn safe_encoding_uses_the_name_alphabet() {
        let encoded = safe_encode(fnv1a32(b"template"));
        assert!(!encoded.is_empty() && encoded.len() <= 10);
        assert!(encoded.bytes().all(|c| NAME_ALPHABET.contains(&c)));
    }
}
