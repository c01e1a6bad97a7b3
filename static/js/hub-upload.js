/* The hub's upload page: the same path the Hugging Face client takes (hub/hf_write.py).
 *
 * Small files (under 10 MB) go inline in one NDJSON commit. Larger ones are hashed here
 * (SHA-256, read in 4 MiB slices, memory that does not grow with the file), then sent through
 * the git-LFS batch API: one PUT (basic transfer) or, above the server's part size, one PUT
 * per part (multipart). The server keeps every stored part, so when the connection drops the
 * page asks the batch API again after a pause and sends only the parts still missing; the
 * progress bar counts bytes the server has confirmed. Choosing the same file again after a
 * reload resumes the same way. Then one commit names the LFS objects by their sha256.
 */
(function () {
  "use strict";

  // Translated strings come from Django's JavaScript catalog (/i18n/js/, loaded before this file).
  const gettext = window.gettext || ((text) => text);
  const interpolate = window.interpolate ||
    ((format, values) => format.replace(/%\((\w+)\)s/g, (match, name) => String(values[name])));
  const format = (text, values) => interpolate(text, values, true);

  // --- SHA-256 (FIPS 180-4), incremental -------------------------------------------------
  const K = new Uint32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
  ]);

  function Sha256() {
    this.h = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                              0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
    this.w = new Uint32Array(64);
    this.pending = new Uint8Array(64);
    this.pendingLength = 0;
    this.total = 0;
  }

  Sha256.prototype.blocks = function (bytes, offset, end) {
    const w = this.w, H = this.h;
    let h0 = H[0], h1 = H[1], h2 = H[2], h3 = H[3], h4 = H[4], h5 = H[5], h6 = H[6], h7 = H[7];
    for (; offset + 64 <= end; offset += 64) {
      for (let i = 0; i < 16; i++) {
        const j = offset + 4 * i;
        w[i] = (bytes[j] << 24) | (bytes[j + 1] << 16) | (bytes[j + 2] << 8) | bytes[j + 3];
      }
      for (let i = 16; i < 64; i++) {
        const x = w[i - 15], y = w[i - 2];
        const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
        const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
        w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
      }
      let a = h0, b = h1, c = h2, d = h3, e = h4, f = h5, g = h6, h = h7;
      for (let i = 0; i < 64; i++) {
        const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
        const t1 = (h + S1 + ((e & f) ^ (~e & g)) + K[i] + w[i]) | 0;
        const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
        const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
        h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
      }
      h0 = (h0 + a) | 0; h1 = (h1 + b) | 0; h2 = (h2 + c) | 0; h3 = (h3 + d) | 0;
      h4 = (h4 + e) | 0; h5 = (h5 + f) | 0; h6 = (h6 + g) | 0; h7 = (h7 + h) | 0;
    }
    H[0] = h0; H[1] = h1; H[2] = h2; H[3] = h3; H[4] = h4; H[5] = h5; H[6] = h6; H[7] = h7;
    return offset;
  };

  Sha256.prototype.update = function (bytes) {
    let offset = 0;
    this.total += bytes.length;
    if (this.pendingLength) {
      const take = Math.min(64 - this.pendingLength, bytes.length);
      this.pending.set(bytes.subarray(0, take), this.pendingLength);
      this.pendingLength += take;
      offset = take;
      if (this.pendingLength < 64) return;
      this.blocks(this.pending, 0, 64);
      this.pendingLength = 0;
    }
    offset = this.blocks(bytes, offset, bytes.length);
    if (offset < bytes.length) {
      this.pending.set(bytes.subarray(offset), 0);
      this.pendingLength = bytes.length - offset;
    }
  };

  Sha256.prototype.hex = function () {
    const tail = new Uint8Array(this.pendingLength < 56 ? 64 : 128);
    tail.set(this.pending.subarray(0, this.pendingLength));
    tail[this.pendingLength] = 0x80;
    const bits = this.total * 8;
    const view = new DataView(tail.buffer);
    view.setUint32(tail.length - 8, Math.floor(bits / 0x100000000));
    view.setUint32(tail.length - 4, bits >>> 0);
    this.blocks(tail, 0, tail.length);
    return Array.from(this.h, (x) => x.toString(16).padStart(8, "0")).join("");
  };

  const SLICE = 4 * 1024 * 1024;

  async function sha256OfFile(file, onProgress) {
    const hash = new Sha256();
    for (let start = 0; start < file.size; start += SLICE) {
      const bytes = new Uint8Array(await file.slice(start, start + SLICE).arrayBuffer());
      hash.update(bytes);
      onProgress(Math.min(file.size, start + SLICE));
    }
    return hash.hex();
  }

  // --- transfers ----------------------------------------------------------------------------
  const INLINE_LIMIT = 10 * 1000 * 1000; // as the preupload API: regular below 10 MB, LFS above
  const RETRIES = 8;

  function sleep(ms) { return new Promise((resolve) => setTimeout(resolve, ms)); }

  class HttpError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  function errorText(xhr) {
    try {
      const body = JSON.parse(xhr.responseText);
      return body.message || body.error || body.detail || xhr.statusText;
    } catch (e) {
      return xhr.getResponseHeader("X-Error-Message") || xhr.statusText || "HTTP " + xhr.status;
    }
  }

  // One request; resolves with the XHR, rejects with HttpError (an answer) or TypeError (no answer).
  function send(method, url, body, headers, onUploadProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open(method, url);
      for (const [name, value] of Object.entries(headers || {})) xhr.setRequestHeader(name, value);
      if (onUploadProgress) xhr.upload.addEventListener("progress", (e) => onUploadProgress(e.loaded));
      xhr.addEventListener("load", () => {
        if (xhr.status >= 200 && xhr.status < 300) resolve(xhr);
        else reject(new HttpError(xhr.status, errorText(xhr)));
      });
      xhr.addEventListener("error", () => reject(new TypeError(gettext("the connection was lost"))));
      xhr.addEventListener("abort", () => reject(new TypeError(gettext("the request was aborted"))));
      xhr.send(body);
    });
  }

  function b64(bytes) {
    let text = "";
    for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    return btoa(text);
  }

  function Uploader(config, ui) {
    this.config = config;
    this.ui = ui;
    this.confirmed = 0; // bytes the server has stored
    this.total = 0;
  }

  Uploader.prototype.json = async function (method, url, body) {
    const xhr = await send(method, url, JSON.stringify(body), {
      "Content-Type": "application/json", "Accept": "application/vnd.git-lfs+json",
      "X-CSRFToken": this.config.csrf,
    });
    return JSON.parse(xhr.responseText || "{}");
  };

  // Retries `step` while the connection drops (no answer, or 502-504 from a proxy), pausing
  // 1, 2, 4 ... 30 s; an answer with another error status fails the upload at once.
  Uploader.prototype.retrying = async function (what, step) {
    for (let attempt = 0; ; attempt++) {
      try {
        return await step();
      } catch (error) {
        const transient = error instanceof TypeError || [502, 503, 504].includes(error.status);
        if (!transient || attempt >= RETRIES) throw error;
        const pause = Math.min(30, 2 ** attempt);
        this.ui.note(format(gettext("Connection lost during %(what)s; resuming in %(pause)s s (the server keeps what it has)."), { what: what, pause: pause }));
        await sleep(pause * 1000);
      }
    }
  };

  Uploader.prototype.batch = function (item) {
    return this.retrying(gettext("the upload request"), () => this.json("POST", this.config.batchUrl, {
      operation: "upload", transfers: ["multipart", "basic"], hash_algo: "sha256",
      objects: [{ oid: item.oid, size: item.file.size }],
    }));
  };

  Uploader.prototype.sendObject = async function (item) {
    for (let round = 0; ; round++) {
      const answer = (await this.batch(item)).objects[0];
      if (answer.error) throw new HttpError(answer.error.code, answer.error.message);
      const upload = answer.actions && answer.actions.upload;
      if (!upload) { this.confirmed += item.file.size; return; } // the server has it already
      try {
        if (upload.header && upload.header.chunk_size) await this.sendParts(item, upload, answer.completed_parts || {});
        else await this.sendWhole(item, upload.href);
        return;
      } catch (error) {
        const transient = error instanceof TypeError || [502, 503, 504].includes(error.status);
        if (!transient || round >= RETRIES) throw error;
        const pause = Math.min(30, 2 ** round);
        this.ui.note(format(gettext("Connection lost; resuming %(path)s in %(pause)s s from what the server stored."), { path: item.path, pause: pause }));
        await sleep(pause * 1000);
      }
    }
  };

  Uploader.prototype.sendWhole = async function (item, href) {
    const before = this.confirmed;
    await send("PUT", href, item.file, { "Content-Type": "application/octet-stream" },
      (loaded) => this.ui.progress(before + loaded, this.total, format(gettext("Uploading %(path)s"), { path: item.path })));
    this.confirmed = before + item.file.size;
  };

  Uploader.prototype.sendParts = async function (item, upload, completed) {
    const size = Number(upload.header.chunk_size);
    const count = Math.max(1, Math.ceil(item.file.size / size));
    const etags = {};
    const start = this.confirmed;
    let stored = 0;
    for (let n = 1; n <= count; n++) {
      if (completed[String(n)]) {
        etags[n] = completed[String(n)];
        stored += Math.min(size, item.file.size - (n - 1) * size);
      }
    }
    if (stored) this.ui.note(format(gettext("Resuming %(path)s: %(stored)s of %(count)s parts already stored."), { path: item.path, stored: Object.keys(etags).length, count: count }));
    this.ui.progress(start + stored, this.total, format(gettext("Uploading %(path)s"), { path: item.path }));
    for (let n = 1; n <= count; n++) {
      if (etags[n]) continue;
      const part = item.file.slice((n - 1) * size, Math.min(item.file.size, n * size));
      const xhr = await send("PUT", upload.header[String(n)], part, { "Content-Type": "application/octet-stream" },
        (loaded) => this.ui.progress(start + stored + loaded, this.total, format(gettext("Uploading %(path)s: part %(n)s of %(count)s"), { path: item.path, n: n, count: count })));
      etags[n] = xhr.getResponseHeader("ETag");
      stored += part.size;
    }
    const parts = Object.keys(etags).map(Number).sort((a, b) => a - b).map((n) => ({ partNumber: n, etag: etags[n] }));
    this.ui.progress(start + stored, this.total, format(gettext("Checking %(path)s (sha256 of the whole file)"), { path: item.path }));
    await this.retrying(gettext("the completion"), () => this.json("POST", upload.href, { oid: item.oid, parts: parts }));
    this.confirmed = start + item.file.size;
  };

  Uploader.prototype.run = async function (items, message) {
    this.total = items.reduce((sum, item) => sum + item.file.size, 0);
    const large = items.filter((item) => item.file.size >= INLINE_LIMIT);
    for (const item of large) {
      let hashed = 0;
      item.oid = await sha256OfFile(item.file, (done) => {
        hashed = done;
        this.ui.progress(this.confirmed, this.total, format(gettext("Hashing %(path)s: %(percent)s"), { path: item.path, percent: Math.round((100 * hashed) / item.file.size) + "%" }));
      });
      await this.sendObject(item);
    }
    const lines = [{ key: "header", value: { summary: message || gettext("Upload files"), description: "" } }];
    for (const item of items) {
      if (item.oid) {
        lines.push({ key: "lfsFile", value: { path: item.path, algo: "sha256", oid: item.oid, size: item.file.size } });
      } else {
        const bytes = new Uint8Array(await item.file.arrayBuffer());
        lines.push({ key: "file", value: { path: item.path, content: b64(bytes), encoding: "base64" } });
      }
    }
    this.ui.progress(this.confirmed, this.total, gettext("Committing"));
    const body = lines.map((line) => JSON.stringify(line)).join("\n") + "\n";
    const xhr = await this.retrying(gettext("the commit"), () => send("POST", this.config.commitUrl, body, {
      "Content-Type": "application/x-ndjson", "X-CSRFToken": this.config.csrf,
    }, (loaded) => this.ui.progress(this.confirmed + Math.min(loaded, this.total - this.confirmed), this.total, gettext("Committing"))));
    this.ui.progress(this.total, this.total, gettext("Committed"));
    return JSON.parse(xhr.responseText);
  };

  // --- the page -------------------------------------------------------------------------------
  function cleanFolder(value) {
    return value.split("/").filter((part) => part && part !== ".").join("/");
  }

  function start() {
    const form = document.getElementById("upload-form");
    if (!form) return;
    const config = form.dataset;
    const bar = document.getElementById("upload-bar");
    const text = document.getElementById("upload-text");
    const notes = document.getElementById("upload-note");
    const box = document.getElementById("upload-status");
    const submit = document.getElementById("upload-submit");
    const ui = {
      progress(done, total, what) {
        const pct = total ? Math.floor((100 * done) / total) : 100;
        bar.firstElementChild.style.width = pct + "%";
        bar.setAttribute("aria-valuenow", String(pct));
        text.textContent = what + "… " + pct + "%";
      },
      note(message) { notes.textContent = message; },
    };
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const folder = cleanFolder(document.getElementById("upload-path").value);
      const items = [];
      for (const file of document.getElementById("upload-files").files) items.push({ file, path: file.name });
      for (const file of document.getElementById("upload-folder").files) items.push({ file, path: file.webkitRelativePath || file.name });
      box.hidden = false;
      notes.textContent = "";
      if (!items.length) { text.textContent = gettext("Choose files or a folder first."); return; }
      for (const item of items) item.path = folder ? folder + "/" + item.path : item.path;
      submit.disabled = true;
      try {
        const result = await new Uploader(config, ui).run(items, document.getElementById("upload-message").value);
        text.textContent = format(gettext("Committed %(oid)s"), { oid: result.commitOid.slice(0, 8) });
        window.location.href = config.repoUrl + (folder ? "?path=" + encodeURIComponent(folder) : "");
      } catch (error) {
        text.textContent = format(gettext("Upload failed: %(reason)s"), { reason: error.message });
        submit.disabled = false;
      }
    });
  }

  window.CrucibleHubUpload = { Sha256: Sha256, sha256OfFile: sha256OfFile };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
