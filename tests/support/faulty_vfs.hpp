#pragma once
// An SQLite VFS that passes every call to the default one, except that, while armed, syncs of
// chosen files fail with SQLITE_IOERR_FSYNC (an fsync that fails: a disk that went away, say)
// and writes of chosen files fail with SQLITE_FULL (a full disk). Installed as the default VFS,
// so the store under test uses it without knowing.

#include <sqlite3.h>

#include <atomic>
#include <cstring>
#include <string>

namespace faulty_vfs {

struct Faults {
    /// Files whose names end with this suffix are affected ("-wal": the write-ahead log).
    std::string suffix = "-wal";
    std::atomic<bool> fail_sync{false};
    std::atomic<bool> fail_write{false};
    std::atomic<int> syncs_failed{0};
    std::atomic<int> writes_failed{0};
};

inline auto faults() -> Faults& {
    static Faults f;
    return f;
}

namespace detail {

struct File {
    sqlite3_file base;   // must come first: SQLite sees this
    bool affected;
    sqlite3_file* real;  // points just past this struct
};

inline auto real(sqlite3_file* f) -> sqlite3_file* { return reinterpret_cast<File*>(f)->real; }
inline auto affected(sqlite3_file* f) -> bool { return reinterpret_cast<File*>(f)->affected; }

inline auto root() -> sqlite3_vfs*& {
    static sqlite3_vfs* vfs = nullptr;
    return vfs;
}

inline int x_close(sqlite3_file* f) { return real(f)->pMethods->xClose(real(f)); }
inline int x_read(sqlite3_file* f, void* p, int n, sqlite3_int64 off) { return real(f)->pMethods->xRead(real(f), p, n, off); }
inline int x_write(sqlite3_file* f, const void* p, int n, sqlite3_int64 off) {
    if (affected(f) && faults().fail_write.load()) {
        ++faults().writes_failed;
        return SQLITE_FULL;
    }
    return real(f)->pMethods->xWrite(real(f), p, n, off);
}
inline int x_truncate(sqlite3_file* f, sqlite3_int64 size) { return real(f)->pMethods->xTruncate(real(f), size); }
inline int x_sync(sqlite3_file* f, int flags) {
    if (affected(f) && faults().fail_sync.load()) {
        ++faults().syncs_failed;
        return SQLITE_IOERR_FSYNC;
    }
    return real(f)->pMethods->xSync(real(f), flags);
}
inline int x_file_size(sqlite3_file* f, sqlite3_int64* size) { return real(f)->pMethods->xFileSize(real(f), size); }
inline int x_lock(sqlite3_file* f, int level) { return real(f)->pMethods->xLock(real(f), level); }
inline int x_unlock(sqlite3_file* f, int level) { return real(f)->pMethods->xUnlock(real(f), level); }
inline int x_check_reserved(sqlite3_file* f, int* out) { return real(f)->pMethods->xCheckReservedLock(real(f), out); }
inline int x_file_control(sqlite3_file* f, int op, void* arg) { return real(f)->pMethods->xFileControl(real(f), op, arg); }
inline int x_sector_size(sqlite3_file* f) { return real(f)->pMethods->xSectorSize(real(f)); }
inline int x_device(sqlite3_file* f) { return real(f)->pMethods->xDeviceCharacteristics(real(f)); }
inline int x_shm_map(sqlite3_file* f, int region, int size, int extend, void volatile** p) {
    return real(f)->pMethods->xShmMap(real(f), region, size, extend, p);
}
inline int x_shm_lock(sqlite3_file* f, int offset, int n, int flags) { return real(f)->pMethods->xShmLock(real(f), offset, n, flags); }
inline void x_shm_barrier(sqlite3_file* f) { real(f)->pMethods->xShmBarrier(real(f)); }
inline int x_shm_unmap(sqlite3_file* f, int del) { return real(f)->pMethods->xShmUnmap(real(f), del); }
inline int x_fetch(sqlite3_file* f, sqlite3_int64 off, int n, void** p) { return real(f)->pMethods->xFetch(real(f), off, n, p); }
inline int x_unfetch(sqlite3_file* f, sqlite3_int64 off, void* p) { return real(f)->pMethods->xUnfetch(real(f), off, p); }

inline const sqlite3_io_methods methods = {3,          x_close,      x_read,         x_write,         x_truncate,
                                           x_sync,     x_file_size,  x_lock,         x_unlock,        x_check_reserved,
                                           x_file_control, x_sector_size, x_device,  x_shm_map,       x_shm_lock,
                                           x_shm_barrier,  x_shm_unmap,   x_fetch,   x_unfetch};

inline int x_open(sqlite3_vfs* vfs, const char* name, sqlite3_file* f, int flags, int* out_flags) {
    auto* file = reinterpret_cast<File*>(f);
    file->real = reinterpret_cast<sqlite3_file*>(file + 1);
    const std::string n = name != nullptr ? name : "";
    const auto& suffix = faults().suffix;
    file->affected = n.size() >= suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0;
    const int rc = root()->xOpen(root(), name, file->real, flags, out_flags);
    (void)vfs;
    file->base.pMethods = file->real->pMethods != nullptr ? &methods : nullptr;
    return rc;
}

} // namespace detail

/// Makes the faulty VFS SQLite's default, once per process.
inline void install() {
    static const bool installed = [] {
        static sqlite3_vfs vfs{};
        detail::root() = sqlite3_vfs_find(nullptr);
        vfs = *detail::root();
        vfs.zName = "eventcore-faulty";
        vfs.szOsFile = static_cast<int>(sizeof(detail::File)) + detail::root()->szOsFile;
        vfs.xOpen = detail::x_open;
        return sqlite3_vfs_register(&vfs, 1) == SQLITE_OK;
    }();
    (void)installed;
}

} // namespace faulty_vfs
