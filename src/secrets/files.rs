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

/// The environment variable naming the key's file.
pub const KEY_FILE_ENV: &str = "SWITCHYARD_KEY_ENCRYPTION_KEY_FILE";

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

    /// The configured key, or `None` when its file does not exist yet.
    pub fn load_existing(&self, data_dir: &Path) -> anyhow::Result<Option<KeyEncryptionKey>> {
        match self {
            KeySource::Env(base64) => KeyEncryptionKey::from_base64(base64)
                .map(Some)
                .with_context(|| format!("reading the key-encryption key from {KEY_ENV}")),
            KeySource::DataDir | KeySource::File(_) => {
                let path = self.file(data_dir).unwrap_or_default();
                match std::fs::symlink_metadata(&path) {
                    Ok(_) => read_key_file(&path).map(Some),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
                }
            }
        }
    }

    /// Makes the key's file (mode 0600); another process making it at the
    /// same moment wins and its key is returned.
    pub fn create(&self, data_dir: &Path) -> anyhow::Result<KeyEncryptionKey> {
        match self.file(data_dir) {
            Some(path) => load_or_create_key_file(&path),
            None => anyhow::bail!("{KEY_ENV} holds no key"),
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

/// Where a rotation keeps the key it replaced: `<file>.old-<kek id>`.
pub fn retired_path(path: &Path, kek_id: &str) -> PathBuf {
    let mut retired = path.as_os_str().to_owned();
    retired.push(format!(".old-{kek_id}"));
    PathBuf::from(retired)
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

/// Creates `dir` (and its missing parents) with mode 0700. An existing
/// directory is tightened only when it is evidently a data directory (it
/// holds the key file or the database: an earlier version made it 0755);
/// any other (`--data-dir .`, a shared directory) is left as it is, with a
/// warning if others can enter it.
pub fn prepare_private_dir(dir: &Path) -> anyhow::Result<()> {
    let existed = dir.is_dir();
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
    let ours = [KEY_FILE_NAME, "switchyard.db"]
        .iter()
        .any(|name| dir.join(name).exists());
    if !existed || ours {
        tighten(dir)
    } else {
        warn_if_open(dir);
        Ok(())
    }
}

/// Takes group's and others' access away from a file holding secrets.
fn tighten_file(path: &Path) -> anyhow::Result<()> {
    tighten(path)
}

/// The permission bits of `path` (not following a symlink), if readable.
#[cfg(unix)]
fn mode_of(path: &Path) -> anyhow::Result<u32> {
    use std::os::unix::fs::PermissionsExt;
    let metadata =
        std::fs::symlink_metadata(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(metadata.permissions().mode() & 0o7777)
}

/// Clears group's and others' bits; the owner's and the special bits
/// (setgid, sticky) stay as they are.
#[cfg(unix)]
fn tighten(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let current = mode_of(path)?;
    if current & 0o077 != 0 {
        let tightened = current & !0o077;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(tightened)).with_context(
            || {
                format!(
                    "{} is open to others (mode {current:o}) and could not be made {tightened:o}",
                    path.display()
                )
            },
        )?;
        tracing::warn!(
            path = %path.display(),
            was = format!("{current:o}"),
            now = format!("{tightened:o}"),
            "tightened the permissions of a file holding secrets"
        );
    }
    Ok(())
}

#[cfg(unix)]
fn warn_if_open(dir: &Path) {
    if let Ok(mode) = mode_of(dir) {
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %dir.display(),
                mode = format!("{mode:o}"),
                "the data directory is open to others and was not made by Switchyard: make it 0700"
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_open(_dir: &Path) {}

#[cfg(not(unix))]
fn tighten(_path: &Path) -> anyhow::Result<()> {
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
        // A directory that is not evidently ours (`--data-dir .`) is left alone.
        prepare_private_dir(&data).unwrap();
        assert_eq!(mode(&data), 0o755);

        let key = data.join(KEY_FILE_NAME);
        let (_, contents) = KeyEncryptionKey::generate().unwrap();
        std::fs::write(&key, contents.expose()).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        read_key_file(&key).unwrap();
        assert_eq!(mode(&key), 0o600);
        // One holding the key (an earlier version made it 0755) is tightened.
        prepare_private_dir(&data).unwrap();
        assert_eq!(mode(&data), 0o700);
        // A new one is made 0700.
        let fresh = dir.path().join("fresh/data");
        prepare_private_dir(&fresh).unwrap();
        assert_eq!(mode(&fresh), 0o700);
        // Only group's and others' bits go: setgid stays.
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o2775)).unwrap();
        prepare_private_dir(&data).unwrap();
        let full = std::fs::metadata(&data).unwrap().permissions().mode() & 0o7777;
        assert_eq!(full, 0o2700);

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
