//! LocalArtifactStore against a real filesystem.

use bytes::Bytes;
use futures_util::stream;
use slipway_artifacts::{ArtifactStore, ByteStream, LocalArtifactStore, SafePath};
use slipway_core::ErrorCode;
use slipway_protocol::FileInfo;
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

fn p(s: &str) -> SafePath {
    SafePath::parse(s).unwrap()
}

fn body(data: &[u8]) -> ByteStream {
    let chunks: Vec<Result<Bytes, std::io::Error>> = data
        .chunks(64 * 1024)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    Box::pin(stream::iter(chunks))
}

fn store() -> (tempfile::TempDir, LocalArtifactStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalArtifactStore::open(&dir.path().join("artifacts")).unwrap();
    (dir, store)
}

async fn read_all(store: &LocalArtifactStore, path: &str) -> Vec<u8> {
    let mut f = store.open(&p(path)).await.unwrap();
    let mut buf = Vec::new();
    f.reader.read_to_end(&mut buf).await.unwrap();
    assert_eq!(buf.len() as u64, f.size);
    buf
}

fn file(path: &str, size: i64) -> FileInfo {
    FileInfo {
        path: path.into(),
        is_dir: false,
        file_size: Some(size),
    }
}

fn dir(path: &str) -> FileInfo {
    FileInfo {
        path: path.into(),
        is_dir: true,
        file_size: None,
    }
}

/// Every file under `root`, recursively (to check no temp files remain).
fn all_files(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path().strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

fn pseudo_random(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[tokio::test]
async fn open_creates_the_root() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("a/b/artifacts");
    let store = LocalArtifactStore::open(&root).unwrap();
    assert!(root.is_dir());
    assert_eq!(store.root(), std::fs::canonicalize(&root).unwrap());
    // Opening an existing root is fine too.
    LocalArtifactStore::open(&root).unwrap();
}

#[tokio::test]
async fn put_then_open_round_trips() {
    let (_tmp, store) = store();
    let data = pseudo_random(3 * 1024 * 1024 + 17);
    let n = store
        .put(&p("1/abc/artifacts/dir/data.bin"), body(&data))
        .await
        .unwrap();
    assert_eq!(n, data.len() as u64);
    assert_eq!(read_all(&store, "1/abc/artifacts/dir/data.bin").await, data);
    let f = store
        .open(&p("1/abc/artifacts/dir/data.bin"))
        .await
        .unwrap();
    assert!(f.modified.is_some());

    // Overwrite replaces the whole file.
    store
        .put(&p("1/abc/artifacts/dir/data.bin"), body(b"short"))
        .await
        .unwrap();
    assert_eq!(
        read_all(&store, "1/abc/artifacts/dir/data.bin").await,
        b"short"
    );

    // Empty files are files.
    store.put(&p("empty"), body(b"")).await.unwrap();
    assert_eq!(read_all(&store, "empty").await, b"");
    assert_eq!(
        store.list(&SafePath::root()).await.unwrap(),
        vec![dir("1"), file("empty", 0)]
    );
}

#[tokio::test]
async fn reader_seeks_for_ranges() {
    let (_tmp, store) = store();
    store.put(&p("f.txt"), body(b"0123456789")).await.unwrap();
    let mut f = store.open(&p("f.txt")).await.unwrap();
    f.reader.seek(std::io::SeekFrom::Start(3)).await.unwrap();
    let mut buf = [0u8; 4];
    f.reader.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"3456");
}

#[tokio::test]
async fn a_failed_upload_leaves_nothing_and_keeps_the_old_file() {
    let (_tmp, store) = store();
    store
        .put(&p("run/model.bin"), body(b"old content"))
        .await
        .unwrap();
    let failing: ByteStream = Box::pin(stream::iter(vec![
        Ok(Bytes::from_static(b"new partial ")),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "client went away",
        )),
    ]));
    let err = store.put(&p("run/model.bin"), failing).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::BadRequest, "{err}");
    assert_eq!(read_all(&store, "run/model.bin").await, b"old content");

    let failing: ByteStream = Box::pin(stream::iter(vec![
        Ok(Bytes::from_static(b"partial")),
        Err(std::io::Error::other("boom")),
    ]));
    store.put(&p("run/new.bin"), failing).await.unwrap_err();
    assert_eq!(
        store.open(&p("run/new.bin")).await.unwrap_err().code,
        ErrorCode::ResourceDoesNotExist
    );
    assert_eq!(all_files(store.root()), vec!["run/model.bin".to_string()]);
}

#[tokio::test]
async fn an_aborted_upload_leaves_nothing() {
    let (_tmp, store) = store();
    // One chunk, then the client stalls forever; the request is dropped.
    let stalled: ByteStream = Box::pin(futures_util::StreamExt::chain(
        stream::iter(vec![Ok(Bytes::from(vec![7u8; 100_000]))]),
        stream::pending(),
    ));
    let target = p("run/stalled.bin");
    let put = store.put(&target, stalled);
    assert!(tokio::time::timeout(Duration::from_millis(300), put)
        .await
        .is_err());
    assert_eq!(all_files(store.root()), Vec::<String>::new());
    assert!(store.list(&p("run")).await.unwrap().is_empty());
}

#[tokio::test]
async fn uploads_in_progress_are_not_listed() {
    let (_tmp, store) = store();
    store.put(&p("run/a.txt"), body(b"a")).await.unwrap();
    std::fs::write(store.root().join("run/.slipway-upload-0123"), b"partial").unwrap();
    assert_eq!(store.list(&p("run")).await.unwrap(), vec![file("a.txt", 1)]);
    assert_eq!(
        SafePath::parse("run/.slipway-upload-0123")
            .unwrap_err()
            .code,
        ErrorCode::InvalidParameterValue
    );
}

#[tokio::test]
async fn listing_shapes() {
    let (_tmp, store) = store();
    store
        .put(
            &p("1/r/artifacts/feature_importance.csv"),
            body(&[b'x'; 1296]),
        )
        .await
        .unwrap();
    store
        .put(&p("1/r/artifacts/notes/readme.txt"), body(b"hello"))
        .await
        .unwrap();
    store
        .put(&p("1/r/artifacts/config.json"), body(b"{}"))
        .await
        .unwrap();
    store
        .put(&p("1/r/artifacts/model/MLmodel"), body(b"flavors: {}"))
        .await
        .unwrap();

    let top = store.list(&p("1/r/artifacts")).await.unwrap();
    assert_eq!(
        top,
        vec![
            file("config.json", 2),
            file("feature_importance.csv", 1296),
            dir("model"),
            dir("notes"),
        ]
    );
    // A trailing slash names the same directory.
    assert_eq!(store.list(&p("1/r/artifacts/")).await.unwrap(), top);
    assert_eq!(
        store.list(&p("1/r/artifacts/notes")).await.unwrap(),
        vec![file("readme.txt", 5)]
    );
    assert_eq!(store.list(&SafePath::root()).await.unwrap(), vec![dir("1")]);
    // Missing directory: empty, not an error (as MLflow).
    assert!(store.list(&p("1/nope/artifacts")).await.unwrap().is_empty());
    assert!(store
        .list(&p("1/r/artifacts/config.json/below"))
        .await
        .unwrap()
        .is_empty());
    // A file path lists as empty (the MLflow client tells files from directories this way).
    assert!(store
        .list(&p("1/r/artifacts/feature_importance.csv"))
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn missing_and_wrong_kind() {
    let (_tmp, store) = store();
    store.put(&p("d/f.txt"), body(b"x")).await.unwrap();
    let e = store.open(&p("d/missing.txt")).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::ResourceDoesNotExist);
    assert!(e.message.contains("d/missing.txt"), "{}", e.message);
    assert_eq!(
        store.open(&p("nope/f.txt")).await.unwrap_err().code,
        ErrorCode::ResourceDoesNotExist
    );
    assert_eq!(
        store.open(&p("d/f.txt/x")).await.unwrap_err().code,
        ErrorCode::ResourceDoesNotExist
    );
    assert_eq!(
        store.open(&p("d")).await.unwrap_err().code,
        ErrorCode::InvalidParameterValue
    );
    assert_eq!(
        store.open(&SafePath::root()).await.unwrap_err().code,
        ErrorCode::InvalidParameterValue
    );
    // Writing over a directory, under a file, or to the root is refused.
    assert_eq!(
        store.put(&p("d"), body(b"x")).await.unwrap_err().code,
        ErrorCode::InvalidParameterValue
    );
    assert_eq!(
        store
            .put(&p("d/f.txt/below"), body(b"x"))
            .await
            .unwrap_err()
            .code,
        ErrorCode::InvalidParameterValue
    );
    assert_eq!(
        store
            .put(&p("d/f.txt/a/b"), body(b"x"))
            .await
            .unwrap_err()
            .code,
        ErrorCode::InvalidParameterValue
    );
    assert_eq!(
        store
            .put(&SafePath::root(), body(b"x"))
            .await
            .unwrap_err()
            .code,
        ErrorCode::InvalidParameterValue
    );
    assert_eq!(read_all(&store, "d/f.txt").await, b"x");
}

#[tokio::test]
async fn delete_files_and_trees() {
    let (_tmp, store) = store();
    store.put(&p("r/a.txt"), body(b"a")).await.unwrap();
    store.put(&p("r/sub/b.txt"), body(b"b")).await.unwrap();
    store
        .put(&p("r/sub/deeper/c.txt"), body(b"c"))
        .await
        .unwrap();
    assert!(store.delete(&p("r/a.txt")).await.unwrap());
    assert_eq!(store.list(&p("r")).await.unwrap(), vec![dir("sub")]);
    assert!(store.delete(&p("r/sub")).await.unwrap());
    assert!(store.list(&p("r")).await.unwrap().is_empty());
    assert!(!store.delete(&p("r/sub")).await.unwrap());
    assert!(!store.delete(&p("nope/x")).await.unwrap());
    assert_eq!(
        store.delete(&SafePath::root()).await.unwrap_err().code,
        ErrorCode::InvalidParameterValue
    );
    assert!(store.root().is_dir());
}

#[tokio::test]
async fn concurrent_uploads_into_new_directories() {
    let (_tmp, store) = store();
    let store = std::sync::Arc::new(store);
    let mut tasks = Vec::new();
    for i in 0..24 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let data = format!("file {i}").into_bytes();
            store
                .put(
                    &p(&format!("1/run/artifacts/a/b/c/f{i:02}.txt")),
                    body(&data),
                )
                .await
                .unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let listed = store.list(&p("1/run/artifacts/a/b/c")).await.unwrap();
    assert_eq!(listed.len(), 24);
    assert_eq!(
        read_all(&store, "1/run/artifacts/a/b/c/f07.txt").await,
        b"file 7"
    );
}

#[tokio::test]
async fn resolve_stays_inside_the_root() {
    let (_tmp, store) = store();
    store.put(&p("a/b.txt"), body(b"x")).await.unwrap();
    assert_eq!(
        store.resolve(&p("a/b.txt")).unwrap(),
        store.root().join("a/b.txt")
    );
    assert_eq!(
        store.resolve(&p("a/new/x")).unwrap(),
        store.root().join("a/new/x")
    );
    assert_eq!(store.resolve(&SafePath::root()).unwrap(), store.root());
}

#[cfg(unix)]
mod symlinks {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A secret outside the root, and a symlink `evil` in the root to its directory.
    fn planted() -> (tempfile::TempDir, LocalArtifactStore, std::path::PathBuf) {
        let (tmp, store) = store();
        let outside = tmp.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("secret.txt"), b"top secret").unwrap();
        std::fs::create_dir_all(store.root().join("1/run")).unwrap();
        symlink(&outside, store.root().join("1/run/evil")).unwrap();
        symlink(
            outside.join("secret.txt"),
            store.root().join("1/run/evil_file"),
        )
        .unwrap();
        (tmp, store, outside)
    }

    fn assert_refused(r: slipway_core::Result<impl std::fmt::Debug>) {
        let e = r.expect_err("a symlink out of the root must be refused");
        assert_eq!(e.code, ErrorCode::InvalidParameterValue, "{e}");
        assert!(
            e.message.contains("outside the artifact root"),
            "{}",
            e.message
        );
    }

    #[tokio::test]
    async fn a_symlink_to_etc_is_refused() {
        let (_tmp, store) = store();
        symlink("/etc", store.root().join("etc")).unwrap();
        assert_refused(store.list(&p("etc")).await);
        assert_refused(store.open(&p("etc/passwd")).await.map(|f| f.size));
        assert_refused(store.open(&p("etc/hostname")).await.map(|f| f.size));
        assert_refused(store.resolve(&p("etc/passwd")));
        // Not even visible in the listing of its parent.
        assert!(store.list(&SafePath::root()).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn reading_listing_writing_through_an_outside_symlink_is_refused() {
        let (_tmp, store, outside) = planted();
        assert_refused(store.list(&p("1/run/evil")).await);
        assert_refused(
            store
                .open(&p("1/run/evil/secret.txt"))
                .await
                .map(|f| f.size),
        );
        assert_refused(store.open(&p("1/run/evil_file")).await.map(|f| f.size));
        assert_refused(store.put(&p("1/run/evil/planted.txt"), body(b"x")).await);
        assert_refused(
            store
                .put(&p("1/run/evil/new_dir/planted.txt"), body(b"x"))
                .await,
        );
        assert_refused(store.delete(&p("1/run/evil/secret.txt")).await);
        assert!(!outside.join("planted.txt").exists());
        assert!(!outside.join("new_dir").exists());
        assert_eq!(
            std::fs::read(outside.join("secret.txt")).unwrap(),
            b"top secret"
        );
        // The parent's listing omits both links.
        assert!(store.list(&p("1/run")).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn writes_replace_a_symlinked_final_component_instead_of_following_it() {
        let (_tmp, store, outside) = planted();
        store
            .put(&p("1/run/evil_file"), body(b"replaced"))
            .await
            .unwrap();
        assert_eq!(
            std::fs::read(outside.join("secret.txt")).unwrap(),
            b"top secret"
        );
        assert!(!store.root().join("1/run/evil_file").is_symlink());
        assert_eq!(read_all(&store, "1/run/evil_file").await, b"replaced");
    }

    #[tokio::test]
    async fn deleting_a_symlink_removes_the_link_only() {
        let (_tmp, store, outside) = planted();
        assert!(store.delete(&p("1/run/evil")).await.unwrap());
        assert!(store.delete(&p("1/run/evil_file")).await.unwrap());
        assert_eq!(
            std::fs::read(outside.join("secret.txt")).unwrap(),
            b"top secret"
        );
        assert!(store.list(&p("1/run")).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn dangling_and_relative_escapes_are_refused() {
        let (_tmp, store) = store();
        symlink("../../..", store.root().join("up")).unwrap();
        assert_refused(store.list(&p("up")).await);
        assert_refused(store.open(&p("up/etc/passwd")).await.map(|f| f.size));
        symlink("/nonexistent/slipway/target", store.root().join("dangling")).unwrap();
        let e = store.open(&p("dangling/x")).await.unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidParameterValue, "{e}");
    }

    #[tokio::test]
    async fn symlinks_that_stay_inside_the_root_work() {
        let (_tmp, store) = store();
        store
            .put(&p("1/run/artifacts/real/f.txt"), body(b"inside"))
            .await
            .unwrap();
        symlink(
            store.root().join("1/run/artifacts/real"),
            store.root().join("1/run/artifacts/alias"),
        )
        .unwrap();
        assert_eq!(
            read_all(&store, "1/run/artifacts/alias/f.txt").await,
            b"inside"
        );
        assert_eq!(
            store.list(&p("1/run/artifacts")).await.unwrap(),
            vec![dir("alias"), dir("real")]
        );
        assert_eq!(
            store.list(&p("1/run/artifacts/alias")).await.unwrap(),
            vec![file("f.txt", 6)]
        );
    }

    #[tokio::test]
    async fn a_symlinked_root_is_fine() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("real")).unwrap();
        symlink(tmp.path().join("real"), tmp.path().join("link")).unwrap();
        let store = LocalArtifactStore::open(&tmp.path().join("link")).unwrap();
        store.put(&p("a/b.txt"), body(b"ok")).await.unwrap();
        assert_eq!(read_all(&store, "a/b.txt").await, b"ok");
        assert!(tmp.path().join("real/a/b.txt").is_file());
    }
}
