//! Bounds on the free text people and systems send. Every stored text has one, so that no
//! row, and no lead that ingest keeps in memory, grows without limit.

/// Names, titles, labels and other one-line values.
pub const MAX_NAME_CHARS: usize = 256;
/// A note or reason a person writes: a rejection note, a review or reinstatement reason.
pub const MAX_NOTE_CHARS: usize = 2_000;

/// The problem with `text` if it is longer than `max` characters.
pub fn too_long(text: &str, max: usize) -> Option<String> {
    // A character is at most 4 bytes: a short text needs no count.
    (text.len() > max && text.chars().count() > max)
        .then(|| format!("is longer than {max} characters"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_counts_characters_not_bytes() {
        assert_eq!(too_long(&"é".repeat(3), 3), None);
        assert_eq!(
            too_long(&"é".repeat(4), 3).as_deref(),
            Some("is longer than 3 characters")
        );
    }
}
