//! Tests of `identity`: normalization tables and hash vectors computed independently with Python
//! `hashlib` (see the module docs for the one-liner).

use super::*;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn china_mobiles_in_common_forms() {
    let forms = [
        "13812345678",
        "+8613812345678",
        "+86 138 1234 5678",
        "+86-138-1234-5678",
        "0086 13812345678",
        "86 13812345678",
        "(+86) 138 1234 5678",
        "  138.1234.5678 ",
        "＋８６　１３８　１２３４　５６７８",
        "（＋86）138－1234－5678",
        "+86 (138) 1234-5678",
    ];
    for raw in forms {
        assert_eq!(normalize(IdKind::Phone, raw).as_deref(), Ok("+8613812345678"), "{raw}");
    }
    assert_eq!(normalize(IdKind::Phone, "19912345678").as_deref(), Ok("+8619912345678"));
}

#[test]
fn other_countries_keep_their_e164_digits() {
    let cases = [
        ("+44 7911 123456", "+447911123456"),
        ("+1 (415) 555-2671", "+14155552671"),
        ("0044 7911 123456", "+447911123456"),
        ("+852 9123 4567", "+85291234567"),
    ];
    for (raw, want) in cases {
        assert_eq!(normalize(IdKind::Phone, raw).as_deref(), Ok(want), "{raw}");
    }
}

#[test]
fn bad_phone_numbers_name_the_form() {
    let cases: [(&str, IdError); 11] = [
        ("", IdError::Empty { kind: "phone number" }),
        ("   ", IdError::Empty { kind: "phone number" }),
        ("138-1234-567x", IdError::PhoneCharacter { ch: 'x', position: 13 }),
        ("138+12345678", IdError::PhoneCharacter { ch: '+', position: 4 }),
        ("tel:13812345678", IdError::PhoneCharacter { ch: 't', position: 1 }),
        ("1381234567", IdError::PhoneLength { form: "national", digits: 10, expected: "11" }),
        ("+86 138 1234 567", IdError::PhoneLength { form: "+86", digits: 10, expected: "11 after `86`" }),
        (
            "86 138123456789",
            IdError::PhoneLength { form: "86-prefixed", digits: 12, expected: "11 after `86`" },
        ),
        ("12812345678", IdError::NotChinaMobile { form: "national" }),
        ("0086 01012345678", IdError::NotChinaMobile { form: "0086" }),
        ("+1234567", IdError::PhoneLength { form: "international", digits: 7, expected: "8 to 15" }),
    ];
    for (raw, want) in cases {
        assert_eq!(normalize(IdKind::Phone, raw), Err(want), "{raw}");
    }
    assert_eq!(
        normalize(IdKind::Phone, "+0123456789"),
        Err(IdError::PhoneCountryCode { form: "international" })
    );
    let long = "1".repeat(10_000);
    assert!(matches!(normalize(IdKind::Phone, &long), Err(IdError::PhoneLength { digits: 10_000, .. })));
}

#[test]
fn errors_do_not_echo_the_number() {
    let e = normalize(IdKind::Phone, "+86 138 1234 567").unwrap_err().to_string();
    assert_eq!(e, "phone number in +86 form has 10 digits, expected 11 after `86`");
    let e = normalize(IdKind::Phone, "138 1234 5678 ext").unwrap_err().to_string();
    assert!(!e.contains("138"), "{e}");
}

#[test]
fn emails() {
    assert_eq!(normalize(IdKind::Email, " Nancy.Li@Example.COM\n").as_deref(), Ok("nancy.li@example.com"));
    assert_eq!(normalize(IdKind::Email, "Ä@Ö.de").as_deref(), Ok("Ä@Ö.de"), "non-ASCII kept as given");
    for bad in ["nancy", "@example.com", "nancy@", "a@b@c", "@"] {
        assert_eq!(normalize(IdKind::Email, bad), Err(IdError::EmailShape), "{bad}");
    }
    assert_eq!(normalize(IdKind::Email, "nan cy@example.com"), Err(IdError::EmailCharacter));
    let long = format!("{}@example.com", "a".repeat(250));
    assert!(matches!(normalize(IdKind::Email, &long), Err(IdError::TooLong { max: 254, .. })));
}

#[test]
fn external_ids_are_trimmed_opaque_and_bounded() {
    assert_eq!(normalize(IdKind::External, "  wx:oABC123 ").as_deref(), Ok("wx:oABC123"));
    assert_eq!(normalize(IdKind::External, "\t"), Err(IdError::Empty { kind: "external id" }));
    assert!(normalize(IdKind::External, &"x".repeat(128)).is_ok());
    assert_eq!(
        normalize(IdKind::External, &"x".repeat(129)),
        Err(IdError::TooLong { kind: "external id", len: 129, max: 128 })
    );
}

#[test]
fn hash_vectors_match_python_hashlib() {
    let salt = b"taste-of-su-2024";
    let vectors = [
        (IdKind::Phone, "+8613812345678", "4f7a01cfa412d9b90148d02e26ed9e5583ed5358db73cb6337fbb0bdda7a96f4"),
        (
            IdKind::Email,
            "nancy@example.com",
            "a5ab2336246261b688768b84411c16bdd50a17e1efd5cb56f571b984322fc1be",
        ),
        (IdKind::External, "wx:oABC123", "0a8dc82c35aa93ffba3473a9d58b2e78b31a28a1639cd7b02bcd6e424b3e8469"),
        (IdKind::Phone, "+447911123456", "68582658c4f8cabcb1ba4d864e9f3e543a7cac4951919b15781378226cfc6f71"),
    ];
    for (kind, normalized, want) in vectors {
        assert_eq!(hex(&hashed_id(salt, kind, normalized)), want, "{normalized}");
    }
    assert_eq!(
        hex(&hashed_id(b"", IdKind::Phone, "+8613812345678")),
        "bc016cabac2796ae99529d632fd08bb0fa746c33eadc0c378bb6808b4dd93424"
    );
    assert_eq!(
        pseudonymous_id(salt, IdKind::Phone, "+86 138-1234-5678").map(|h| hex(&h)).as_deref(),
        Ok("4f7a01cfa412d9b90148d02e26ed9e5583ed5358db73cb6337fbb0bdda7a96f4")
    );
}

#[test]
fn kind_and_salt_separate_hashes() {
    let a = hashed_id(b"s", IdKind::External, "x");
    assert_ne!(a, hashed_id(b"s", IdKind::Email, "x"));
    assert_ne!(a, hashed_id(b"s\0", IdKind::External, "x"));
    assert_ne!(a, hashed_id(b"t", IdKind::External, "x"));
}
