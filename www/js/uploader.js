// The demo's external uploader, registered as "demo-http" (the name Demo.ProfileStore's
// `document` preflight gives): PUTs the file to `meta.url` — a path on the devserver, resolved
// against the page — with XMLHttpRequest (fetch reports no upload progress), and gives up when
// the entry is cancelled (`signal`). Shared by the plain-JS and the React example.
export function demoHttpUploader({ file, meta, onProgress, signal }) {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const url = new URL(String(meta.url), location.href);
    const xhr = new XMLHttpRequest();
    xhr.open(typeof meta.method === "string" ? meta.method : "PUT", url);
    // 100 % is reported by the client once the server answered the PUT (the file is stored).
    xhr.upload.onprogress = (event) => event.lengthComputable && onProgress(Math.min(99, (event.loaded / event.total) * 100));
    xhr.onload = () => (xhr.status >= 200 && xhr.status < 300 ? resolve() : reject(new Error(`PUT ${url.pathname}: HTTP ${xhr.status}`)));
    xhr.onerror = () => reject(new Error(`PUT ${url.pathname}: network error`));
    xhr.onabort = () => reject(signal.reason ?? new DOMException("The upload was aborted", "AbortError"));
    signal.addEventListener("abort", () => xhr.abort(), { once: true });
    xhr.send(file);
  });
}
