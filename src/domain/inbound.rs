/// An inbound record that authenticated but could not be mapped to a canonical event (no
/// usable email, a field that fails validation): kept as a dead letter rather than dropped or
/// refused, since refusing would make the vendor redeliver it forever.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unmappable {
    /// The vendor's id for the record (Salesforce: the notification Id).
    pub event_id: String,
    /// Why it could not be mapped, naming the field.
    pub reason: String,
    /// The record as received, in a form its adapter parses again on replay.
    pub payload: String,
}
