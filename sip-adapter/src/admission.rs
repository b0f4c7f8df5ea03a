//! Admission control and source filtering. Sans-IO: callers pass `now`.

use std::net::IpAddr;
use std::time::Instant;

/// An IPv4/IPv6 network in CIDR form (`10.0.0.0/8`, `::1/128`, or a bare address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad CIDR {0:?}: expected ADDR or ADDR/PREFIX")]
pub struct CidrError(pub String);

impl std::str::FromStr for Cidr {
    type Err = CidrError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || CidrError(s.to_string());
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let net: IpAddr = addr.trim().parse().map_err(|_| err())?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.trim().parse::<u8>().map_err(|_| err())?,
            None => max,
        };
        if prefix > max {
            return Err(err());
        }
        Ok(Cidr { net, prefix })
    }
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        // Compare IPv4-mapped IPv6 sources as IPv4.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// Empty list = everyone allowed.
pub fn allowed(list: &[Cidr], ip: IpAddr) -> bool {
    list.is_empty() || list.iter().any(|c| c.contains(ip))
}

/// Why a new call is refused with 503.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    TooManyCalls,
    RateLimited,
    Draining,
    Overloaded,
}

impl Refusal {
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::TooManyCalls => "too many calls",
            Refusal::RateLimited => "call rate limit",
            Refusal::Draining => "draining",
            Refusal::Overloaded => "overloaded",
        }
    }
}

/// Token bucket for new calls per second, plus the concurrent cap.
#[derive(Debug)]
pub struct Admission {
    max_calls: usize,
    rate_per_s: f64,
    burst: f64,
    tokens: f64,
    last: Option<Instant>,
}

impl Admission {
    /// `rate_per_s` <= 0 disables the rate limit.
    pub fn new(max_calls: usize, rate_per_s: f64, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            max_calls,
            rate_per_s,
            burst,
            tokens: burst,
            last: None,
        }
    }

    /// Decide on a new INVITE. `active` = calls currently held.
    pub fn admit(
        &mut self,
        now: Instant,
        active: usize,
        draining: bool,
        overloaded: bool,
    ) -> Result<(), Refusal> {
        if draining {
            return Err(Refusal::Draining);
        }
        if overloaded {
            return Err(Refusal::Overloaded);
        }
        if active >= self.max_calls {
            return Err(Refusal::TooManyCalls);
        }
        if self.rate_per_s > 0.0 {
            if let Some(last) = self.last {
                let dt = now.saturating_duration_since(last).as_secs_f64();
                self.tokens = (self.tokens + dt * self.rate_per_s).min(self.burst);
            }
            self.last = Some(now);
            if self.tokens < 1.0 {
                return Err(Refusal::RateLimited);
            }
            self.tokens -= 1.0;
        }
        Ok(())
    }
}

/// A DTMF digit from SIP INFO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InfoDtmf {
    pub digit: char,
    pub duration_ms: Option<u32>,
}

/// Parse an INFO body: `application/dtmf-relay` (`Signal=5\r\nDuration=160`) or
/// `application/dtmf` (just the digit or an RFC 4733 event number).
pub fn parse_info_dtmf(content_type: &str, body: &[u8]) -> Option<InfoDtmf> {
    let text = std::str::from_utf8(body).ok()?;
    let ct = content_type.trim().to_ascii_lowercase();
    let digit_of = |s: &str| -> Option<char> {
        let s = s.trim();
        if let Ok(n) = s.parse::<u8>()
            && s.len() <= 2
        {
            return match n {
                0..=9 => char::from_digit(u32::from(n), 10),
                10 => Some('*'),
                11 => Some('#'),
                12..=15 => Some((b'A' + n - 12) as char),
                _ => None,
            };
        }
        let c = s.chars().next()?;
        (s.chars().count() == 1 && "0123456789*#ABCDabcd".contains(c))
            .then(|| c.to_ascii_uppercase())
    };
    if ct.starts_with("application/dtmf-relay") {
        let mut digit = None;
        let mut duration = None;
        for line in text.lines() {
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            match k.trim().to_ascii_lowercase().as_str() {
                "signal" => digit = digit_of(v),
                "duration" => duration = v.trim().parse().ok(),
                _ => {}
            }
        }
        digit.map(|digit| InfoDtmf {
            digit,
            duration_ms: duration,
        })
    } else if ct.starts_with("application/dtmf") {
        digit_of(text).map(|digit| InfoDtmf {
            digit,
            duration_ms: None,
        })
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn cidr_matching() {
        let c: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(c.contains("10.1.200.3".parse().unwrap()));
        assert!(!c.contains("10.2.0.1".parse().unwrap()));
        assert!(c.contains("::ffff:10.1.0.9".parse().unwrap()));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("192.0.2.1".parse().unwrap()));
        let host: Cidr = "::1".parse().unwrap();
        assert!(host.contains("::1".parse().unwrap()));
        assert!(!host.contains("127.0.0.1".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("nope".parse::<Cidr>().is_err());
        assert!(allowed(&[], "1.2.3.4".parse().unwrap()));
    }

    #[test]
    fn admission_cap_rate_drain_overload() {
        let t0 = Instant::now();
        let mut a = Admission::new(2, 10.0, 2);
        assert_eq!(a.admit(t0, 2, false, false), Err(Refusal::TooManyCalls));
        assert_eq!(a.admit(t0, 0, true, false), Err(Refusal::Draining));
        assert_eq!(a.admit(t0, 0, false, true), Err(Refusal::Overloaded));
        assert_eq!(a.admit(t0, 0, false, false), Ok(()));
        assert_eq!(a.admit(t0, 0, false, false), Ok(()));
        assert_eq!(a.admit(t0, 0, false, false), Err(Refusal::RateLimited));
        // 100 ms at 10/s refills one token.
        assert_eq!(
            a.admit(t0 + Duration::from_millis(100), 0, false, false),
            Ok(())
        );
        assert_eq!(
            a.admit(t0 + Duration::from_millis(110), 0, false, false),
            Err(Refusal::RateLimited)
        );
    }

    #[test]
    fn info_dtmf_bodies() {
        assert_eq!(
            parse_info_dtmf("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n"),
            Some(InfoDtmf {
                digit: '5',
                duration_ms: Some(160)
            })
        );
        assert_eq!(
            parse_info_dtmf("application/dtmf-relay", b"Signal= #\r\nDuration=100")
                .map(|d| d.digit),
            Some('#')
        );
        assert_eq!(
            parse_info_dtmf("application/dtmf", b"11").map(|d| d.digit),
            Some('#')
        );
        assert_eq!(parse_info_dtmf("application/dtmf-relay", b"Signal=Z"), None);
        assert_eq!(parse_info_dtmf("text/plain", b"Signal=1"), None);
        assert_eq!(parse_info_dtmf("application/dtmf-relay", &[0xff]), None);
    }
}
