//! Logging: `tracing` to stderr and, when `supervisor.logfile` is set, to that file
//! with size rotation (`log_maxMB`, `log_max_backups`), like supervisord's own log:
//! `octoflow.log` is current, `octoflow.log.1` the newest backup, and no more than
//! `log_max_backups` backups remain.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tracing_subscriber::fmt::MakeWriter;

struct Inner {
    path: PathBuf,
    file: File,
    size: u64,
    max: u64,
    backups: u32,
}

impl Inner {
    fn rotate(&mut self) -> io::Result<()> {
        self.file.flush()?;
        if self.backups == 0 {
            self.file = File::create(&self.path)?;
            self.size = 0;
            return Ok(());
        }
        let name = |i: u32| {
            let mut p = self.path.clone().into_os_string();
            p.push(format!(".{i}"));
            PathBuf::from(p)
        };
        let _ = std::fs::remove_file(name(self.backups));
        for i in (1..self.backups).rev() {
            let from = name(i);
            if from.exists() {
                std::fs::rename(&from, name(i + 1))?;
            }
        }
        std::fs::rename(&self.path, name(1))?;
        self.file = File::create(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

/// A log file that rotates itself when a write would take it past its size.
#[derive(Clone)]
pub struct RotatingFile {
    inner: Arc<Mutex<Inner>>,
}

impl RotatingFile {
    pub fn open(path: &Path, max_bytes: u64, backups: u32) -> io::Result<RotatingFile> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(RotatingFile {
            inner: Arc::new(Mutex::new(Inner {
                path: path.to_path_buf(),
                file,
                size,
                max: max_bytes.max(1),
                backups,
            })),
        })
    }
}

impl Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut g = self
            .inner
            .lock()
            .map_err(|_| io::Error::other("log file lock poisoned"))?;
        if g.size > 0 && g.size + buf.len() as u64 > g.max {
            g.rotate()?;
        }
        g.file.write_all(buf)?;
        g.size += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.inner.lock() {
            Ok(mut g) => g.file.flush(),
            Err(_) => Ok(()),
        }
    }
}

/// Where log lines go: stderr, and the rotating file when there is one.
#[derive(Clone)]
pub struct Tee {
    pub file: Option<RotatingFile>,
}

pub struct TeeWriter {
    file: Option<RotatingFile>,
}

impl Write for TeeWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let _ = io::stderr().write_all(buf);
        if let Some(f) = &mut self.file {
            f.write_all(buf)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let _ = io::stderr().flush();
        if let Some(f) = &mut self.file {
            f.flush()?;
        }
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Tee {
    type Writer = TeeWriter;
    fn make_writer(&'a self) -> TeeWriter {
        TeeWriter {
            file: self.file.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_at_size_and_keeps_at_most_n_backups() {
        let dir = std::env::temp_dir().join(format!("octoflow-logtest-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("o.log");
        let mut f = RotatingFile::open(&path, 100, 2).expect("open");
        for i in 0..50 {
            writeln!(f, "line {i:04} of the log, thirty-odd bytes").expect("write");
        }
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, vec!["o.log", "o.log.1", "o.log.2"]);
        for n in &names {
            let len = std::fs::metadata(dir.join(n)).expect("meta").len();
            assert!(len <= 100, "{n} is {len} bytes");
        }
        let current = std::fs::read_to_string(&path).expect("read");
        assert!(current.contains("line 0049"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
