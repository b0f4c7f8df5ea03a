//! RFC 4028 session timer negotiation for an incoming INVITE, as the UAS. Pure: the caller
//! passes the relevant header values. We only ever let the caller refresh (`refresher=uac`);
//! we do not send refreshes ourselves, so where RFC 4028 would make us the refresher we
//! decline the timer (no `Session-Expires` in the 2xx) instead.

/// Smallest session interval we accept (RFC 4028 §4: at least 90 s).
pub(crate) const MIN_SE: u32 = 90;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SessionTimer {
    /// No session timer: no `Session-Expires`, no `Require: timer` in our responses.
    Off,
    /// Answer 422 with `Min-SE: {0}`.
    TooSmall(u32),
    /// Interval in seconds; the caller refreshes. Responses carry
    /// `Session-Expires: N;refresher=uac` and `Require: timer`.
    CallerRefreshes(u32),
}

/// `caller_supports`: `timer` in the INVITE's Supported or Require. `session_expires` and
/// `min_se`: raw header values, if present. `max_interval_s`: config (0 = never use timers).
pub(crate) fn negotiate(
    caller_supports: bool,
    session_expires: Option<&str>,
    min_se: Option<&str>,
    max_interval_s: u32,
) -> SessionTimer {
    if max_interval_s == 0 || !caller_supports {
        // Without caller support only we could refresh (refresher=uas), which we don't do;
        // `Require: timer` must not be sent to a caller that did not say it supports it.
        return SessionTimer::Off;
    }
    let seconds = |v: &str| {
        v.split(';')
            .next()
            .and_then(|n| n.trim().parse::<u32>().ok())
    };
    let floor = min_se.and_then(seconds).unwrap_or(0).max(MIN_SE);
    let ours = max_interval_s.max(floor);
    let Some(se) = session_expires else {
        // The caller supports timers but proposed none: we may propose ours (§9).
        return SessionTimer::CallerRefreshes(ours);
    };
    let Some(asked) = seconds(se) else {
        return SessionTimer::Off;
    };
    if asked < MIN_SE {
        return SessionTimer::TooSmall(MIN_SE);
    }
    let wants_uas = se.split(';').skip(1).any(|p| {
        let p = p.trim().to_ascii_lowercase();
        p.replace(' ', "") == "refresher=uas"
    });
    if wants_uas {
        return SessionTimer::Off;
    }
    // A UAS may lower the interval but not below the Min-SE in force (§9).
    SessionTimer::CallerRefreshes(asked.min(ours))
}

#[cfg(test)]
mod tests {
    use super::*;
    use SessionTimer::*;

    #[test]
    fn require_timer_only_when_the_caller_supports_it() {
        // Session-Expires inserted by a proxy, caller without `timer`: no timer at all.
        assert_eq!(negotiate(false, Some("1800"), None, 1800), Off);
        assert_eq!(negotiate(false, None, None, 1800), Off);
        assert_eq!(
            negotiate(true, Some("1800"), None, 1800),
            CallerRefreshes(1800)
        );
        assert_eq!(
            negotiate(true, Some("600;refresher=uac"), None, 1800),
            CallerRefreshes(600)
        );
    }

    #[test]
    fn interval_is_lowered_to_config_but_not_below_min_se() {
        assert_eq!(
            negotiate(true, Some("3600"), None, 1800),
            CallerRefreshes(1800)
        );
        assert_eq!(
            negotiate(true, Some("3600"), Some("2000"), 1800),
            CallerRefreshes(2000)
        );
        // A config below 90 s counts as 90.
        assert_eq!(negotiate(true, Some("120"), None, 30), CallerRefreshes(90));
        assert_eq!(negotiate(true, None, None, 1800), CallerRefreshes(1800));
        assert_eq!(
            negotiate(true, None, Some("300"), 120),
            CallerRefreshes(300)
        );
    }

    #[test]
    fn too_small_gets_422_and_odd_values_are_safe() {
        assert_eq!(negotiate(true, Some("30"), None, 1800), TooSmall(90));
        assert_eq!(negotiate(true, Some("banana"), None, 1800), Off);
        assert_eq!(negotiate(true, Some("99999999999999"), None, 1800), Off);
        assert_eq!(
            negotiate(true, Some("1800"), Some("x"), 1800),
            CallerRefreshes(1800)
        );
        assert_eq!(negotiate(true, Some("1800"), None, 0), Off);
    }

    #[test]
    fn refresher_uas_is_declined() {
        assert_eq!(negotiate(true, Some("1800;refresher=uas"), None, 1800), Off);
        assert_eq!(
            negotiate(true, Some("1800; refresher = UAS"), None, 1800),
            Off
        );
    }
}
