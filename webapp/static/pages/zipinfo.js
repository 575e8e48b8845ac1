// Reads a zip's central directory in the browser (File.slice, no library), so the upload form can tell the
// project and runtime before a byte is sent. It mirrors the server's rules (storage/archive.py) for the layout
// only; the server's check stays the one that decides.
(function (global) {
  "use strict";

  const EOCD = 0x06054b50;
  const EOCD64_LOCATOR = 0x07064b50;
  const EOCD64 = 0x06064b50;
  const CENTRAL = 0x02014b50;
  const MAX_DIRECTORY = 64 * 1024 * 1024;
  const utf8 = new TextDecoder("utf-8", { fatal: true });
  const latin = new TextDecoder("windows-1252");

  async function view(file, start, end) {
    return new DataView(await file.slice(start, end).arrayBuffer());
  }

  function decodeName(bytes, flags) {
    if (flags & 0x800) return new TextDecoder("utf-8").decode(bytes);
    try {
      return utf8.decode(bytes);
    } catch (e) {
      return latin.decode(bytes);
    }
  }

  // Sizes too big for 32 bits live in the ZIP64 extra field (id 1), in a fixed order.
  function zip64Size(extra, size, compressed) {
    let p = 0;
    while (p + 4 <= extra.byteLength) {
      const id = extra.getUint16(p, true);
      const length = extra.getUint16(p + 2, true);
      if (id === 1) {
        let q = p + 4;
        if (size === 0xffffffff && q + 8 <= extra.byteLength) { size = Number(extra.getBigUint64(q, true)); q += 8; }
        if (compressed === 0xffffffff && q + 8 <= extra.byteLength) { compressed = Number(extra.getBigUint64(q, true)); }
        break;
      }
      p += 4 + length;
    }
    return [size, compressed];
  }

  async function readEntries(file) {
    const tailStart = Math.max(0, file.size - 22 - 0xffff);
    const tail = await view(file, tailStart, file.size);
    let at = -1;
    for (let i = tail.byteLength - 22; i >= 0; i--) {
      if (tail.getUint32(i, true) === EOCD) { at = i; break; }
    }
    if (at < 0) throw new Error("This is not a zip file (it has no end-of-archive record).");
    let directorySize = tail.getUint32(at + 12, true);
    let directoryEnd = tailStart + at;
    if (at >= 20 && tail.getUint32(at - 20, true) === EOCD64_LOCATOR) {
      const recordAt = directoryEnd - 20 - 56;
      if (recordAt >= 0) {
        const record = await view(file, recordAt, recordAt + 56);
        if (record.getUint32(0, true) === EOCD64) {
          directorySize = Number(record.getBigUint64(40, true));
          directoryEnd = recordAt;
        }
      }
    }
    const start = directoryEnd - directorySize;
    if (start < 0) throw new Error("This zip is damaged: its central directory lies outside the file.");
    if (directorySize > MAX_DIRECTORY) throw new Error("This zip's central directory is unusually large.");
    const directory = await view(file, start, directoryEnd);
    const entries = [];
    let p = 0;
    while (p + 46 <= directory.byteLength) {
      if (directory.getUint32(p, true) !== CENTRAL) throw new Error("This zip is damaged: its central directory is broken.");
      const flags = directory.getUint16(p + 8, true);
      const nameLength = directory.getUint16(p + 28, true);
      const extraLength = directory.getUint16(p + 30, true);
      const commentLength = directory.getUint16(p + 32, true);
      const nameAt = directory.byteOffset + p + 46;
      const name = decodeName(new Uint8Array(directory.buffer, nameAt, nameLength), flags);
      const extra = new DataView(directory.buffer, nameAt + nameLength, extraLength);
      const [size, compressed] = zip64Size(extra, directory.getUint32(p + 24, true), directory.getUint32(p + 20, true));
      const mode = directory.getUint32(p + 38, true) >>> 16;
      entries.push({ name, size, compressed, encrypted: Boolean(flags & 0x41), mode });
      p += 46 + nameLength + extraLength + commentLength;
    }
    return entries;
  }

  function projectName(prefix, filename) {
    let raw = prefix ? prefix.slice(0, -1) : filename.split(/[\\/]/).pop();
    if (!prefix && raw.toLowerCase().endsWith(".zip")) raw = raw.slice(0, -4);
    raw = raw.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 100).replace(/^\.+|\.+$/g, "");
    return raw || "project";
  }

  // What the server will make of the zip's layout: { project, runtime, entryFile, files, bytes, problem }.
  // runtimes: the server's table, [{ name, label, entry_file }] (the upload form's data-runtimes).
  function describe(entries, filename, runtimes) {
    const entryFiles = new Map(runtimes.map((runtime) => [runtime.entry_file, runtime]));
    const kept = new Map();
    let bytes = 0;
    let problem = null;
    for (const entry of entries) {
      bytes += entry.size;
      const parts = entry.name.split("/").filter((part) => part !== "" && part !== ".");
      if (entry.name.startsWith("/") || parts.includes("..") || entry.name.includes("\\")) {
        problem = problem || `“${entry.name}” points outside the project; the server will refuse the zip.`;
      }
      if (entry.encrypted) problem = problem || `“${entry.name}” is encrypted; upload the zip without a password.`;
      if (!parts.length || parts[0] === "__MACOSX" || parts[parts.length - 1] === ".DS_Store") continue;
      const isDir = entry.name.endsWith("/") || (entry.mode & 0o170000) === 0o040000;
      kept.set(parts.join("/"), isDir);
    }
    if (!kept.size) return { project: projectName("", filename), runtime: null, files: 0, bytes, problem: "The zip is empty." };
    const tops = new Set(Array.from(kept.keys(), (path) => path.split("/")[0]));
    let prefix = "";
    if (tops.size === 1) {
      const top = tops.values().next().value;
      if (!(kept.has(top) && !kept.get(top))) prefix = top + "/";
    }
    const found = Array.from(entryFiles.keys()).filter((name) => kept.get(prefix + name) === false);
    const where = prefix ? `the folder “${prefix}”` : "the top of the zip";
    const files = Array.from(kept.values()).filter((isDir) => !isDir).length;
    const result = { project: projectName(prefix, filename), runtime: null, entryFile: null, files, bytes, problem };
    if (found.length > 1) {
      result.problem = problem || `The project has ${found.join(" and ")} in ${where}; keep one.`;
    } else if (!found.length) {
      const named = runtimes.map((runtime) => `${runtime.entry_file} (${runtime.label})`);
      const choices = named.length > 1 ? `${named.slice(0, -1).join(", ")} or ${named[named.length - 1]}` : named.join("");
      result.problem = problem || `No entry file: put ${choices} in ${where}.`;
    } else {
      result.entryFile = found[0];
      result.runtime = entryFiles.get(found[0]).name;
    }
    return result;
  }

  async function inspect(file, runtimes) {
    return describe(await readEntries(file), file.name, runtimes);
  }

  global.labqueueZip = { readEntries, describe, inspect };
})(window);
