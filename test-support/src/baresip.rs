//! baresip (Debian package baresip-core) as a caller without a sound card.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::ports::free_udp_port;

/// A baresip configuration: plays a WAV as its microphone (aufile hangs up at the end of
/// the file), records what it hears, offers PCMU only, listens on a free loopback port.
#[derive(Debug, Clone)]
pub struct Baresip {
    pub conf_dir: PathBuf,
    /// Where sndfile writes the recordings (`*-dec.wav` is what baresip heard).
    pub rec_dir: PathBuf,
}

impl Baresip {
    /// Writes the configuration to `dir/baresip`, recordings go to `dir/rec`.
    pub fn configure(dir: &Path, wav: &Path) -> Result<Baresip> {
        let conf_dir = dir.join("baresip");
        let rec_dir = dir.join("rec");
        for d in [&conf_dir, &rec_dir] {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
        }
        std::fs::write(
            conf_dir.join("config"),
            format!(
                "module_path /usr/lib/baresip/modules\nsip_listen 127.0.0.1:{}\n\
                 audio_source aufile,{}\naudio_player aubridge,nowhere\naudio_alert aubridge,nowhere\n\
                 module g711.so\nmodule aufile.so\nmodule aubridge.so\nmodule sndfile.so\n\
                 module_app menu.so\nmodule_app account.so\nsnd_path {}\n",
                free_udp_port(),
                wav.display(),
                rec_dir.display()
            ),
        )?;
        std::fs::write(
            conf_dir.join("accounts"),
            "<sip:caller@127.0.0.1>;regint=0;audio_codecs=PCMU/8000/1\n",
        )?;
        Ok(Baresip { conf_dir, rec_dir })
    }

    /// baresip dialling `uri`, quitting after `max_secs` at the latest.
    pub fn dial(&self, uri: &str, max_secs: u64) -> Command {
        let mut cmd = Command::new("baresip");
        cmd.arg("-f")
            .arg(&self.conf_dir)
            .arg("-e")
            .arg(format!("/dial {uri}"))
            .args(["-t", &max_secs.to_string()]);
        cmd
    }

    /// The recording of what baresip heard, once a call has run.
    pub fn heard(&self) -> Option<PathBuf> {
        std::fs::read_dir(&self.rec_dir)
            .ok()?
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
    }
}
