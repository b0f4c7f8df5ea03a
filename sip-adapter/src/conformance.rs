//! Requests refused before any handling because they break RFC 3261 in a way the
//! response code names (the RFC 4475 torture cases): an unsupported SIP version (505),
//! a Request-URI scheme we cannot serve (416), a CSeq method that is not the request's
//! (400), a required extension we lack (420), a body encoding we cannot read (415).
//! Pure: a parsed request in, the refusal out.

use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::uri::Scheme;
use rsipstack::sip::{Header, Method, Request, Version};

/// The option tags we implement (RFC 4028 session timers).
const SUPPORTED_EXTENSIONS: &[&str] = &["timer"];

/// Why a request is refused, with what the response must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Nonconformance {
    Version(String),
    UriScheme(String),
    CSeqMethod,
    /// The unknown option tags of `Require` (echoed in `Unsupported`).
    Extensions(Vec<String>),
    ContentEncoding(String),
}

impl Nonconformance {
    pub fn status(&self) -> u16 {
        match self {
            Nonconformance::Version(_) => 505,
            Nonconformance::UriScheme(_) => 416,
            Nonconformance::CSeqMethod => 400,
            Nonconformance::Extensions(_) => 420,
            Nonconformance::ContentEncoding(_) => 415,
        }
    }

    /// Headers the response needs (name, value).
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        match self {
            Nonconformance::Extensions(tags) => vec![("Unsupported", tags.join(", "))],
            Nonconformance::ContentEncoding(_) => vec![("Accept-Encoding", "identity".into())],
            _ => Vec::new(),
        }
    }
}

impl std::fmt::Display for Nonconformance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Nonconformance::Version(v) => write!(f, "unsupported version {v}"),
            Nonconformance::UriScheme(s) => write!(f, "unsupported URI scheme {s}"),
            Nonconformance::CSeqMethod => f.write_str("CSeq method differs from the request's"),
            Nonconformance::Extensions(t) => write!(f, "unsupported extensions {}", t.join(",")),
            Nonconformance::ContentEncoding(e) => write!(f, "unsupported content encoding {e}"),
        }
    }
}

/// The first reason to refuse `req`, in RFC 3261 §8.2's order; None if it may proceed.
/// ACKs are never refused (they get no response).
pub(crate) fn check(req: &Request) -> Option<Nonconformance> {
    if req.method == Method::Ack {
        return None;
    }
    if req.version != Version::V2 {
        return Some(Nonconformance::Version(req.version.to_string()));
    }
    if let Some(Scheme::Other(s)) = &req.uri.scheme {
        return Some(Nonconformance::UriScheme(s.clone()));
    }
    match req.cseq_header().ok().map(|c| c.method()) {
        Some(Ok(m)) if m == req.method => {}
        _ => return Some(Nonconformance::CSeqMethod),
    }
    // A CANCEL must not be refused for Require (RFC 3261 §9.2).
    if req.method != Method::Cancel {
        let unknown: Vec<String> = req
            .headers
            .iter()
            .filter_map(|h| match h {
                Header::Require(v) => Some(v.value().to_string()),
                _ => None,
            })
            .flat_map(|v| {
                v.split(',')
                    .map(|t| t.trim().to_string())
                    .collect::<Vec<_>>()
            })
            .filter(|t| {
                !t.is_empty()
                    && !SUPPORTED_EXTENSIONS
                        .iter()
                        .any(|s| s.eq_ignore_ascii_case(t))
            })
            .collect();
        if !unknown.is_empty() {
            return Some(Nonconformance::Extensions(unknown));
        }
    }
    let encoding = req
        .headers
        .iter()
        .find(|h| h.name().eq_ignore_ascii_case("Content-Encoding") || h.name() == "e")
        .map(|h| h.value().trim().to_ascii_lowercase());
    if let Some(e) = encoding.filter(|e| !e.is_empty() && e != "identity") {
        return Some(Nonconformance::ContentEncoding(e));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsipstack::sip::SipMessage;

    fn request(first_line: &str, extra: &str, cseq: &str) -> Request {
        let text = format!(
            "{first_line}\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK-c1\r\n\
             From: <sip:caller@example.com>;tag=1\r\nTo: <sip:ivr@example.com>\r\n\
             Call-ID: c1@192.0.2.1\r\nCSeq: {cseq}\r\nMax-Forwards: 70\r\n{extra}\
             Content-Length: 0\r\n\r\n"
        );
        match SipMessage::try_from(text.as_str()) {
            Ok(SipMessage::Request(r)) => r,
            other => panic!("not a request: {other:?}\n{text}"),
        }
    }

    #[test]
    fn a_plain_request_proceeds() {
        let r = request("OPTIONS sip:ivr@example.com SIP/2.0", "", "1 OPTIONS");
        assert_eq!(check(&r), None);
        let r = request(
            "INVITE sip:ivr@example.com SIP/2.0",
            "Require: timer\r\n",
            "1 INVITE",
        );
        assert_eq!(check(&r), None, "session timers are supported");
    }

    #[test]
    fn each_violation_gets_its_code() {
        let cases = [
            ("INVITE sip:ivr@example.com SIP/7.0", "", "1 INVITE", 505),
            ("OPTIONS name:ivr@example.com SIP/2.0", "", "1 OPTIONS", 416),
            ("INVITE sip:ivr@example.com SIP/2.0", "", "1 OPTIONS", 400),
            (
                "OPTIONS sip:ivr@example.com SIP/2.0",
                "Require: nothingsupported, timer, nothingsupportedeither\r\n",
                "1 OPTIONS",
                420,
            ),
            (
                "OPTIONS sip:ivr@example.com SIP/2.0",
                "Content-Encoding: br\r\n",
                "1 OPTIONS",
                415,
            ),
        ];
        for (line, extra, cseq, code) in cases {
            let r = request(line, extra, cseq);
            let refusal = check(&r).unwrap_or_else(|| panic!("{line} {extra} passed"));
            assert_eq!(refusal.status(), code, "{line} {extra}: {refusal}");
        }
        let r = request(
            "OPTIONS sip:ivr@example.com SIP/2.0",
            "Require: nothingsupported, timer, nothingsupportedeither\r\n",
            "1 OPTIONS",
        );
        assert_eq!(
            check(&r).unwrap().headers(),
            vec![(
                "Unsupported",
                "nothingsupported, nothingsupportedeither".to_string()
            )]
        );
    }

    #[test]
    fn acks_and_cancels_are_not_refused_for_what_they_cannot_answer() {
        let r = request("ACK sip:ivr@example.com SIP/7.0", "", "1 ACK");
        assert_eq!(check(&r), None, "an ACK gets no response");
        let r = request(
            "CANCEL sip:ivr@example.com SIP/2.0",
            "Require: foo\r\n",
            "1 CANCEL",
        );
        assert_eq!(check(&r), None);
    }
}
