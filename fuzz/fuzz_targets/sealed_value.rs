//! The sealed-value decoder (`crypto::KeyRing::open`) and the decoders of what it opens
//! (a connection's secrets and token state), with a real key ring.
//!
//! The first byte picks what the rest is:
//! - `0`: a sealed value, opened as a connection's `secrets` (`4`: its `token`). It may only
//!   open if we sealed it: then the plaintext is one of `SEEDS`, which is all this key ring
//!   ever sealed for that binding (the committed seeds, written by this target when
//!   `SEALED_VALUE_WRITE_SEEDS=<dir>` is set).
//! - `1`: row, context and plaintext to seal: the value opens to the plaintext under its own
//!   binding only, and every edited byte, truncation, other row, field or context, or key
//!   ring without its key is refused.
//! - `2`: a master key list: parsing never panics, and a ring it makes round-trips.
//! - `3`: a plaintext, for the secrets and token state decoders directly.

#![no_main]

use std::sync::LazyLock;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;
use tokenbroker::credentials::TokenState;
use tokenbroker::crypto::{Binding, CryptoError, KeyRing};
use tokenbroker::secret::SecretMap;

const ROW: &str = "conn-1";
const CONTEXT: &[u8] = b"provider and config digest";
/// Base64 of 32 bytes of 1 and of 2.
const KEY_1: &str = "k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
const KEY_2: &str = "k2:AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";

/// Every plaintext the seeds were sealed with: a connection's secrets, and a token state.
const SEEDS: &[&[u8]] = &[
    br#"{"client_secret":"seed-client-secret","subscription_key":"seed-key"}"#,
    br#"{"v":1,"access_token":"seed-access-token","token_type":"Bearer","obtained_at":"2026-01-01T00:00:00Z","expires_at":"2026-01-01T01:00:00Z","refresh_token":"seed-refresh-token","refresh_token_expires_at":"2026-01-08T00:00:00Z","cookies":[["jid","seed-cookie"]]}"#,
];

/// The active key k2, and k1 from before a rotation.
static RING: LazyLock<KeyRing> = LazyLock::new(|| ring(&format!("{KEY_2},{KEY_1}")));
/// The ring before the rotation: it cannot open what k2 sealed.
static OLD_RING: LazyLock<KeyRing> = LazyLock::new(|| ring(KEY_1));

fn ring(list: &str) -> KeyRing {
    KeyRing::parse(&SecretString::from(list.to_owned())).unwrap_or_else(|e| panic!("test key ring: {e}"))
}

fn binding<'a>(row: &'a str, field: &'static str, context: &'a [u8]) -> Binding<'a> {
    Binding { table: "connections", row, field, context }
}

/// The decoders a successful open feeds: they refuse what they cannot read, never panic, and
/// what they accept survives their own encoding.
fn decode(plaintext: &[u8]) {
    if let Ok(secrets) = SecretMap::from_plaintext(plaintext) {
        let again = SecretMap::from_plaintext(&secrets.to_plaintext()).expect("re-encoded secrets decode");
        assert_eq!(again.names(), secrets.names());
        for name in secrets.names() {
            assert_eq!(again.expose(&name), secrets.expose(&name));
        }
    }
    if let Ok(state) = TokenState::from_plaintext(plaintext) {
        let encoded = state.to_plaintext().unwrap_or_else(|_| panic!("decoded token state re-encodes"));
        let again = TokenState::from_plaintext(&encoded).unwrap_or_else(|_| panic!("re-encoded token state decodes"));
        assert_eq!(format!("{:?}", again.meta()), format!("{:?}", state.meta()));
        assert_eq!(again.cookies.len(), state.cookies.len());
    }
}

fn open_foreign(field: &'static str, sealed: &[u8]) {
    let _ = KeyRing::sealed_key_id(sealed);
    match RING.open(binding(ROW, field, CONTEXT), sealed) {
        Ok(plaintext) => {
            assert!(SEEDS.contains(&plaintext.as_slice()), "opened a value this key ring never sealed");
            decode(&plaintext);
        }
        Err(CryptoError::Malformed { .. } | CryptoError::UnknownKey { .. } | CryptoError::Integrity { .. }) => {}
        Err(other) => panic!("unexpected error opening: {other}"),
    }
}

#[derive(Arbitrary, Debug)]
struct Roundtrip<'a> {
    row: &'a str,
    context: &'a [u8],
    token_field: bool,
    /// Which byte to edit, and how.
    edit_at: usize,
    edit_xor: u8,
    truncate_to: usize,
    plaintext: &'a [u8],
}

fn roundtrip(data: &[u8]) {
    let Ok(input) = Roundtrip::arbitrary_take_rest(Unstructured::new(data)) else { return };
    let field = if input.token_field { "token" } else { "secrets" };
    let own = binding(input.row, field, input.context);
    let sealed = RING.seal(own, input.plaintext).expect("sealing never fails with a valid ring");
    assert_eq!(KeyRing::sealed_key_id(&sealed), Some("k2"));
    assert_eq!(RING.open(own, &sealed).expect("own value opens").as_slice(), input.plaintext);
    // Version, key id length, "k2", nonce, ciphertext as long as the plaintext, tag.
    assert_eq!(sealed.len(), 1 + 1 + 2 + 12 + input.plaintext.len() + 16);

    let other_row = format!("{}x", input.row);
    let other_field = if input.token_field { "secrets" } else { "token" };
    let other_context = [input.context, b"x"].concat();
    for (what, other) in [
        ("another row", binding(&other_row, field, input.context)),
        ("another field", binding(input.row, other_field, input.context)),
        ("another context", binding(input.row, field, &other_context)),
    ] {
        assert!(matches!(RING.open(other, &sealed), Err(CryptoError::Integrity { .. })), "a value opened under {what}");
    }
    assert!(matches!(OLD_RING.open(own, &sealed), Err(CryptoError::UnknownKey { .. })));

    let mut edited = sealed.clone();
    let at = input.edit_at % edited.len();
    let xor = input.edit_xor.max(1);
    edited[at] ^= xor;
    assert!(RING.open(own, &edited).is_err(), "byte {at} edited (xor {xor:#04x}) but accepted");
    let truncated = &sealed[..input.truncate_to % sealed.len()];
    assert!(RING.open(own, truncated).is_err(), "truncated to {} bytes but accepted", truncated.len());

    decode(input.plaintext);
}

fn key_list(data: &[u8]) {
    let list = String::from_utf8_lossy(data).into_owned();
    let Ok(ring) = KeyRing::parse(&SecretString::from(list)) else { return };
    let ids = ring.key_ids();
    assert!(!ids.is_empty());
    assert_eq!(ids[0], ring.active_key_id());
    let b = binding(ROW, "secrets", CONTEXT);
    let sealed = ring.seal(b, b"x").expect("a parsed ring seals");
    assert_eq!(ring.open(b, &sealed).expect("and opens").as_slice(), b"x");
    assert_eq!(KeyRing::sealed_key_id(&sealed), Some(ring.active_key_id()));
}

/// Writes the committed seeds: the known plaintexts sealed under the test ring (and one
/// under the old ring alone), each with the first byte that selects opening it.
fn write_seeds(dir: &str) {
    let write = |name: &str, selector: u8, sealed: Vec<u8>| {
        let path = format!("{dir}/{name}");
        std::fs::write(&path, [vec![selector], sealed].concat()).unwrap_or_else(|e| panic!("{path}: {e}"));
    };
    let secrets = binding(ROW, "secrets", CONTEXT);
    let token = binding(ROW, "token", CONTEXT);
    write("secrets-k2", 0, RING.seal(secrets, SEEDS[0]).expect("seal"));
    write("secrets-k1", 0, OLD_RING.seal(secrets, SEEDS[0]).expect("seal"));
    write("token-k2", 4, RING.seal(token, SEEDS[1]).expect("seal"));
    std::process::exit(0);
}

fuzz_target!(
    init: {
        if let Ok(dir) = std::env::var("SEALED_VALUE_WRITE_SEEDS") {
            write_seeds(&dir);
        }
    },
    |data: &[u8]| {
        let Some((&selector, rest)) = data.split_first() else { return };
        match selector % 4 {
            0 => open_foreign(if selector & 4 == 0 { "secrets" } else { "token" }, rest),
            1 => roundtrip(rest),
            2 => key_list(rest),
            _ => decode(rest),
        }
    }
);
