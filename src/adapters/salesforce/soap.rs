//! The SOAP answers Salesforce reads: the Ack that ends its redelivery of a message, and the
//! fault for anything else.

/// The `notificationsResponse` with `<Ack>true</Ack>` of the Outbound Messaging WSDL, byte for
/// byte as the ASP.NET WebHooks receiver answers it (UTF-8 BOM and final newline included).
/// Salesforce keeps redelivering a message, for up to 24 hours, until it reads this.
pub const ACK: &[u8] = include_bytes!("ack.xml");

/// The media type of both answers.
pub const CONTENT_TYPE: &str = "text/xml; charset=utf-8";

/// A SOAP 1.1 fault saying `detail`; `client` picks the fault code: `soapenv:Client` (the
/// message is at fault) or `soapenv:Server` (we are, and a redelivery may succeed).
pub fn fault(client: bool, detail: &str) -> String {
    let code = if client { "Client" } else { "Server" };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\">\n \
         <soapenv:Body>\n  \
         <soapenv:Fault>\n   \
         <faultcode>soapenv:{code}</faultcode>\n   \
         <faultstring>{}</faultstring>\n  \
         </soapenv:Fault>\n \
         </soapenv:Body>\n\
         </soapenv:Envelope>\n",
        escape(detail)
    )
}

/// `text` as XML character data (and attribute-safe).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot carry at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ack_is_the_wsdl_response_with_its_bom() {
        assert!(ACK.starts_with(b"\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
        let text = std::str::from_utf8(&ACK[3..]).unwrap();
        let doc = roxmltree::Document::parse(text).unwrap();
        let ack = doc
            .descendants()
            .find(|n| n.has_tag_name(("http://soap.sforce.com/2005/09/outbound", "Ack")))
            .unwrap();
        assert_eq!(ack.text(), Some("true"));
    }

    #[test]
    fn a_fault_is_well_formed_and_escapes_its_detail() {
        let body = fault(true, "bad <xml> & \"quotes\"\u{0}");
        let doc = roxmltree::Document::parse(&body).unwrap();
        let text = |name: &str| {
            doc.descendants()
                .find(|n| n.has_tag_name(name))
                .and_then(|n| n.text())
                .map(str::to_owned)
        };
        assert_eq!(text("faultcode").as_deref(), Some("soapenv:Client"));
        assert_eq!(
            text("faultstring").as_deref(),
            Some("bad <xml> & \"quotes\"\u{FFFD}")
        );
        assert!(fault(false, "down").contains("soapenv:Server"));
    }
}
