//! Files that hold secrets, readable by their owner only: the data
//! directory (0700), the KEK file and the SQLite database with its WAL and
//! shared-memory files (0600). Files are created with their final mode (not
//! chmod-ed after the write), so none is readable by others even for an
//! instant; looser modes found on existing files are tightened and logged.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::KeyEncryptionKey;
use crate::model::secret::Secret;

/// The KEK file's name in the data directory (the default).
pub const KEY_FILE_NAME: &str = "key-encryption-key";

/// The environment variable that may hold the KEK itself, in base64.
pub const KEY_ENV: &str = "SWITCHYARD_KEY_ENCRYPTION_KEY";

/// Where the KEK comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum KeySource {
    /// `<data dir>/key-encryption-key`, made on first start.
    #[default]
    DataDir,
    /// A file named by the configuration (made there if missing).
    File(PathBuf),
    /// The key itself, base64, from [`KEY_ENV`].
    Env(Secret),
}

impl KeySource {
    /// The file the key lives in, if it lives in one.
    pub fn file(&self, data_dir: &Path) -> Option<PathBuf> {
        match self {
            KeySource::DataDir => Some(data_dir.join(KEY_FILE_NAME)),
            KeySource::File(path) => Some(path.clone()),
            KeySource::Env(_) => None,
        }
    }

    /// Loads the key, making its file on first start.
    pub fn load(&self, data_dir: &Path) -> anyhow::Result<KeyEncryptionKey> {
        match self {
            KeySource::Env(base64) => KeyEncryptionKey::from_base64(base64)
                .with_context(|| format!("reading the key-encryption key from {KEY_ENV}")),
            KeySource::DataDir | KeySource::File(_) => {
                let path = self.file(data_dir).unwrap_or_default();
                load_or_create_key_file(&path)
            }
        }
    }
}

/// Where a rotation puts the new KEK before it replaces the file at `path`
/// (`<path>.new`).
pub fn pending_path(path: &Path) -> PathBuf {
    let mut pending = path.as_os_str().to_owned();
    pending.push(".new");
    PathBuf::from(pending)
}

/// What to tell an operator whose data is sealed under `sealed_under` when
/// the pending file of an interrupted rotation holds that key.
pub fn interrupted_rotation_hint(path: &Path, sealed_under: &str) -> String {
    let pending = pending_path(path);
    match std::fs::read(&pending)
        .ok()
        .and_then(|contents| KeyEncryptionKey::from_file_contents(&contents).ok())
    {
        Some(key) if key.id() == sealed_under => format!(
            "; {} holds that key (a rotation stopped after re-sealing): move it to {}",
            pending.display(),
            path.display()
        ),
        _ => String::new(),
    }
}

/// Puts the pending KEK of a rotation in place of the file at `path`.
pub fn replace_with_pending(path: &Path) -> anyhow::Result<()> {
    let pending = pending_path(path);
    std::fs::rename(&pending, path)
        .with_context(|| format!("moving {} to {}", pending.display(), path.display()))?;
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        if let Ok(dir) = std::fs::File::open(dir) {
            let _ = dir.sync_all();
        }
    }
    Ok(())
}

/// The KEK in `path`, made (32 random bytes, base64, mode 0600) if the
/// file does not exist yet.
pub fn load_or_create_key_file(path: &Path) -> anyhow::Result<KeyEncryptionKey> {
    match std::fs::symlink_metadata(path) {
        Ok(_) => read_key_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let (key, contents) = KeyEncryptionKey::generate()?;
            if write_new_private_file(path, contents.expose().as_bytes())? {
                tracing::info!(path = %path.display(), kek_id = key.id(), "made a new key-encryption key");
                Ok(key)
            } else {
                // Another process made it first: theirs is the key.
                read_key_file(path)
            }
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// The KEK in an existing file (its mode tightened to 0600 if looser).
pub fn read_key_file(path: &Path) -> anyhow::Result<KeyEncryptionKey> {
    tighten_file(path)?;
    let contents = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    KeyEncryptionKey::from_file_contents(&contents)
        .with_context(|| format!("reading the key-encryption key in {}", path.display()))
}

/// Writes `contents` to a new file at `path`, mode 0600 from its creation:
/// a private temporary file, synced, then linked to `path`, so that `path`
/// never holds half a key. `false` when `path` already exists (left as it is).
pub fn write_new_private_file(path: &Path, contents: &[u8]) -> anyhow::Result<bool> {
    let dir = path
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .with_context(|| format!("{} is not a file name", path.display()))?;
    let temporary = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        crate::model::ids::random_alphanumeric(12)
    ));
    let written = (|| -> std::io::Result<bool> {
        let mut file = private_file_options().open(&temporary)?;
        file.write_all(contents)?;
        file.sync_all()?;
        drop(file);
        match std::fs::hard_link(&temporary, path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e),
        }
    })();
    let _ = std::fs::remove_file(&temporary);
    let written = written.with_context(|| format!("writing {}", path.display()))?;
    if let Ok(dir) = std::fs::File::open(dir) {
        // The new name survives a crash once its directory is synced.
        let _ = dir.sync_all();
    }
    Ok(written)
}

/// Options that create a new file, readable and writable by its owner only.
fn private_file_options() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

/// Creates `path` empty with mode 0600 if it does not exist (so that SQLite,
/// which gives its WAL and shared-memory files the database's mode, never
/// makes any of them readable by others), and tightens it, its `-wal` and
/// its `-shm` if they exist with looser modes.
pub fn prepare_database_file(path: &Path) -> anyhow::Result<()> {
    match private_file_options().open(path) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let file = PathBuf::from(file);
        if file.exists() {
            tighten_file(&file)?;
        }
    }
    Ok(())
}

/// Creates `dir` (and its missing parents) with mode 0700, or tightens an
/// existing one that others can enter.
pub fn prepare_private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    tighten(dir, 0o700)
}

/// Tightens `path` to 0600 if group or others may access it.
fn tighten_file(path: &Path) -> anyhow::Result<()> {
    tighten(path, 0o600)
}

#[cfg(unix)]
fn tighten(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let metadata =
        std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    let current = metadata.permissions().mode() & 0o777;
    if current & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).with_context(
            || {
                format!(
                    "{} is open to others (mode {current:o}) and could not be made {mode:o}",
                    path.display()
                )
            },
        )?;
        tracing::warn!(
            path = %path.display(),
            was = format!("{current:o}"),
            now = format!("{mode:o}"),
            "tightened the permissions of a file holding secrets"
        );
    }
    Ok(())
}

#[cfg(not(unix))]
fn tighten(_path: &Path, _mode: u32) -> anyhow::Result<()> {
    Ok(())
}

#[cfg(test)]
#[cfg(unix)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn the_key_file_is_made_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE_NAME);
        let made = load_or_create_key_file(&path).unwrap();
        assert_eq!(mode(&path), 0o600);
        let again = load_or_create_key_file(&path).unwrap();
        assert_eq!(made, again, "a second start made another key");
        // No temporary file is left beside it.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        // A file that exists is never replaced.
        assert!(!write_new_private_file(&path, b"other").unwrap());
        assert_eq!(load_or_create_key_file(&path).unwrap(), made);
    }

    #[test]
    fn looser_modes_are_tightened() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
        prepare_private_dir(&data).unwrap();
        assert_eq!(mode(&data), 0o700);

        let key = data.join(KEY_FILE_NAME);
        let (_, contents) = KeyEncryptionKey::generate().unwrap();
        std::fs::write(&key, contents.expose()).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        read_key_file(&key).unwrap();
        assert_eq!(mode(&key), 0o600);

        let db = data.join("switchyard.db");
        for file in ["switchyard.db", "switchyard.db-wal", "switchyard.db-shm"] {
            std::fs::write(data.join(file), b"").unwrap();
            std::fs::set_permissions(data.join(file), std::fs::Permissions::from_mode(0o644))
                .unwrap();
        }
        prepare_database_file(&db).unwrap();
        for file in ["switchyard.db", "switchyard.db-wal", "switchyard.db-shm"] {
            assert_eq!(mode(&data.join(file)), 0o600, "{file}");
        }
    }

    #[test]
    fn an_interrupted_rotation_is_pointed_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE_NAME);
        load_or_create_key_file(&path).unwrap();
        assert_eq!(interrupted_rotation_hint(&path, "0123"), "");
        let pending = load_or_create_key_file(&pending_path(&path)).unwrap();
        let hint = interrupted_rotation_hint(&path, pending.id());
        assert!(hint.contains("key-encryption-key.new"), "{hint}");
        replace_with_pending(&path).unwrap();
        assert_eq!(read_key_file(&path).unwrap(), pending);
        assert!(!pending_path(&path).exists());
    }

    #[test]
    fn new_directories_are_0700() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b");
        prepare_private_dir(&nested).unwrap();
        assert_eq!(mode(&nested), 0o700);
        assert_eq!(mode(&dir.path().join("a")), 0o700);
    }
}
