// The 3D viewer of CAD previews (GLB in metres, Y-up; see app/services/preview_worker.py).
//
// Bundled by scripts/build_assets.sh into app/static/vendor/viewer.js (one IIFE, no CDN, no eval,
// no workers, no blob: URLs), so it runs under the hub's CSP (script-src 'self', connect-src 'self').
//
// Markup (every attribute except data-model-url is optional):
//
//   <div class="viewer" data-model-url="/projects/1/files/2/versions/3/preview.glb"
//        data-error-text="The 3D preview could not be shown. Download the file instead."
//        data-loading-text="Loading the 3D preview…">
//     <div data-viewer-canvas></div>                       (the drawing area; created when missing)
//     <progress data-viewer-progress max="100"></progress>  (created when missing)
//     <p data-viewer-status role="status"></p>
//     <button type="button" data-viewer-reset>Reset view</button>
//     <button type="button" data-viewer-wireframe aria-pressed="false">Wireframe</button>
//     <span data-viewer-size></span>                       ("40 × 30 × 10 mm", along the CAD X, Y, Z)
//     <a href="…" download>Download</a>                    (never hidden by the viewer)
//   </div>
//
// The container gets data-viewer-state="loading" | "ready" | "error", and data-viewer-ready="1"
// once the model is drawn. Containers added to the page later (e.g. after a "file_preview" Socket.IO
// event) are mounted automatically; window.hubViewer.mount(element) mounts one by hand.

import {
  Box3,
  Color,
  DirectionalLight,
  DoubleSide,
  GridHelper,
  HemisphereLight,
  MeshStandardMaterial,
  PerspectiveCamera,
  Scene,
  Sphere,
  SRGBColorSpace,
  Vector3,
  WebGLRenderer,
} from "three";
import { GLTFLoader } from "three/examples/jsm/loaders/GLTFLoader.js";
import { OrbitControls } from "three/examples/jsm/controls/OrbitControls.js";

const SELECTOR = "[data-model-url]";
const DEFAULT_ERROR = "The 3D preview could not be shown. Download the file to view it.";
const VIEW_DIRECTION = new Vector3(1, 0.75, 1.25).normalize(); // front, right, above
const mounted = new WeakSet();

function part(container, name) {
  return container.querySelector(`[data-viewer-${name}]`);
}

function setStatus(container, text) {
  const status = part(container, "status");
  if (status) {
    status.textContent = text;
    status.hidden = !text;
  }
}

function fail(container, view, reason) {
  if (view) view.dispose();
  container.dataset.viewerState = "error";
  delete container.dataset.viewerReady;
  const progress = part(container, "progress");
  if (progress) progress.hidden = true;
  for (const name of ["reset", "wireframe"]) {
    const button = part(container, name);
    if (button) button.disabled = true;
  }
  setStatus(container, container.dataset.errorText || DEFAULT_ERROR);
  if (reason) console.warn("3D preview:", reason);
}

let webgl = null;

// Probed once per page, and the probe's context released at once (browsers keep only ~16 contexts).
function webglAvailable() {
  if (webgl === null) {
    try {
      const gl = window.WebGL2RenderingContext ? document.createElement("canvas").getContext("webgl2") : null;
      webgl = Boolean(gl);
      if (gl) gl.getExtension("WEBGL_lose_context")?.loseContext();
    } catch {
      webgl = false;
    }
  }
  return webgl;
}

// Fetch the GLB, reporting progress from Content-Length (indeterminate without it).
async function fetchModel(url, progress) {
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "model/gltf-binary" } });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  const total = Number(response.headers.get("Content-Length")) || 0;
  if (!response.body || !response.body.getReader) return response.arrayBuffer();
  const reader = response.body.getReader();
  const chunks = [];
  let received = 0;
  if (progress && !total) progress.removeAttribute("value");
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    received += value.length;
    if (progress && total) progress.value = Math.min(100, (100 * received) / total);
  }
  const buffer = new Uint8Array(received);
  let offset = 0;
  for (const chunk of chunks) {
    buffer.set(chunk, offset);
    offset += chunk.length;
  }
  return buffer.buffer;
}

function isGlb(buffer) {
  const head = new Uint8Array(buffer, 0, Math.min(4, buffer.byteLength));
  return head.length === 4 && String.fromCharCode(...head) === "glTF";
}

function studioMaterial(geometry) {
  return new MeshStandardMaterial({
    color: 0xb4bac2,
    metalness: 0.25, // metal-ish: without an environment map a fully metallic surface renders black
    roughness: 0.45,
    side: DoubleSide, // surface models (IGES, open STL) have no inside
    flatShading: !geometry.getAttribute("normal"),
    vertexColors: Boolean(geometry.getAttribute("color")),
  });
}

// Meshes whose primitive has no material in the file get the grey studio material.
function dressMeshes(gltf) {
  const meshes = [];
  gltf.scene.traverse((object) => {
    if (!object.isMesh) return;
    const mapping = gltf.parser.associations.get(object.material);
    if (!mapping || mapping.materials === undefined) object.material = studioMaterial(object.geometry);
    meshes.push(object);
  });
  return meshes;
}

function formatSize(size, lang) {
  const largest = Math.max(size.x, size.y, size.z);
  const digits = largest < 10 ? 2 : largest < 1000 ? 1 : 0;
  const format = new Intl.NumberFormat(lang || undefined, { maximumFractionDigits: digits });
  // glTF is Y-up; the CAD file's X, Y, Z are glTF's X, -Z, Y (see preview_worker.py).
  return `${format.format(size.x)} × ${format.format(size.z)} × ${format.format(size.y)} mm`;
}

function niceGridSize(extent) {
  const step = 10 ** Math.floor(Math.log10(extent));
  for (const factor of [1, 2, 5, 10]) {
    if (factor * step >= extent) return factor * step;
  }
  return 10 * step;
}

class View {
  constructor(container, host) {
    this.container = container;
    this.host = host;
    this.renderer = new WebGLRenderer({ antialias: true, alpha: false, powerPreference: "low-power" });
    this.renderer.outputColorSpace = SRGBColorSpace;
    this.renderer.setPixelRatio(Math.min(window.devicePixelRatio || 1, 2));
    const canvas = this.renderer.domElement;
    canvas.setAttribute("aria-hidden", "true");
    // The host's CSS size is the drawing size; the pixel buffer is scaled by the device pixel ratio.
    Object.assign(canvas.style, { display: "block", width: "100%", height: "100%" });
    host.appendChild(canvas);

    this.scene = new Scene();
    this.scene.background = new Color(0xf2f3f5);
    // Studio lighting without an environment map (PMREM takes seconds on software WebGL):
    // a sky/ground hemisphere, a key light that follows the camera and a dimmer fill from behind.
    this.scene.add(new HemisphereLight(0xffffff, 0x7d838a, 1.6));
    this.camera = new PerspectiveCamera(35, 1, 0.001, 1000);
    const key = new DirectionalLight(0xffffff, 2.2);
    key.position.set(1, 1.5, 2); // relative to the camera: the side facing the viewer is always lit
    this.camera.add(key);
    const fill = new DirectionalLight(0xdfe6ee, 0.8);
    fill.position.set(-1.5, -0.5, -1);
    this.camera.add(fill);
    this.scene.add(this.camera);

    this.controls = new OrbitControls(this.camera, this.renderer.domElement);
    this.controls.enableDamping = false;
    this.controls.screenSpacePanning = true;
    this.controls.addEventListener("change", () => this.render());

    this.wireframe = false;
    this.meshes = [];
    this.frame = 0;
    this.resizeObserver = new ResizeObserver(() => this.resize());
    this.resizeObserver.observe(host);
    this.renderer.domElement.addEventListener("webglcontextlost", (event) => {
      event.preventDefault();
      fail(container, this, "WebGL context lost");
    });
    this.resize();
  }

  show(gltf) {
    this.model = gltf.scene;
    this.meshes = dressMeshes(gltf);
    this.scene.add(this.model);
    this.box = new Box3().setFromObject(this.model);
    if (this.box.isEmpty()) throw new Error("the model is empty");
    const size = this.box.getSize(new Vector3());
    const extent = Math.max(size.x, size.z, 1e-6);
    const gridSize = niceGridSize(extent * 1.6);
    this.grid = new GridHelper(gridSize, 10, 0x9aa1a9, 0xd3d7dc);
    const center = this.box.getCenter(new Vector3());
    this.grid.position.set(center.x, this.box.min.y - 1e-4 * gridSize, center.z);
    this.scene.add(this.grid);
    this.sizeText = formatSize(size.clone().multiplyScalar(1000), document.documentElement.lang);
    this.resetView();
  }

  resetView() {
    const sphere = this.box.getBoundingSphere(new Sphere());
    const radius = Math.max(sphere.radius, 1e-6);
    const fov = (this.camera.fov * Math.PI) / 180;
    const fit = Math.min(fov, 2 * Math.atan(Math.tan(fov / 2) * this.camera.aspect));
    const distance = (radius / Math.sin(fit / 2)) * 1.1;
    this.camera.near = distance / 100;
    this.camera.far = distance * 100;
    this.camera.position.copy(sphere.center).addScaledVector(VIEW_DIRECTION, distance);
    this.camera.updateProjectionMatrix();
    this.controls.target.copy(sphere.center);
    this.controls.minDistance = radius * 0.05;
    this.controls.maxDistance = distance * 20;
    this.controls.update();
    this.render();
  }

  toggleWireframe() {
    this.wireframe = !this.wireframe;
    for (const mesh of this.meshes) {
      for (const material of Array.isArray(mesh.material) ? mesh.material : [mesh.material]) {
        material.wireframe = this.wireframe;
      }
    }
    this.render();
    return this.wireframe;
  }

  resize() {
    const width = this.host.clientWidth || 1;
    const height = this.host.clientHeight || 1;
    this.camera.aspect = width / height;
    this.camera.updateProjectionMatrix();
    this.renderer.setSize(width, height, false);
    this.render();
  }

  render() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.renderer.render(this.scene, this.camera);
    });
  }

  renderNow() {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    this.renderer.render(this.scene, this.camera);
  }

  dispose() {
    this.resizeObserver.disconnect();
    this.controls.dispose();
    this.renderer.dispose();
    this.renderer.domElement.remove();
  }
}

function canvasHost(container) {
  let host = part(container, "canvas");
  if (!host) {
    host = document.createElement("div");
    host.setAttribute("data-viewer-canvas", "");
    container.prepend(host);
  }
  if (host.clientHeight < 50) host.style.height = "360px"; // no height from the page's CSS
  return host;
}

function progressBar(container, host) {
  let progress = part(container, "progress");
  if (!progress) {
    progress = document.createElement("progress");
    progress.setAttribute("data-viewer-progress", "");
    progress.max = 100;
    host.after(progress);
  }
  progress.value = 0;
  progress.hidden = false;
  return progress;
}

async function load(container) {
  container.dataset.viewerState = "loading";
  delete container.dataset.viewerReady;
  setStatus(container, container.dataset.loadingText || "");
  if (!webglAvailable()) {
    fail(container, null, "WebGL 2 is not available");
    return;
  }
  const host = canvasHost(container);
  const progress = progressBar(container, host);
  let view = null;
  try {
    const buffer = await fetchModel(container.dataset.modelUrl, progress);
    if (!isGlb(buffer)) throw new Error("the response is not a GLB file");
    const gltf = await new GLTFLoader().parseAsync(buffer, "");
    view = new View(container, host);
    view.show(gltf);
    view.renderNow();
  } catch (error) {
    fail(container, view, error);
    return;
  }
  progress.hidden = true;
  setStatus(container, "");
  const size = part(container, "size");
  if (size) size.textContent = view.sizeText;
  const reset = part(container, "reset");
  if (reset) {
    reset.disabled = false;
    reset.addEventListener("click", () => view.resetView());
  }
  const wireframe = part(container, "wireframe");
  if (wireframe) {
    wireframe.disabled = false;
    wireframe.setAttribute("aria-pressed", "false");
    wireframe.addEventListener("click", () => {
      wireframe.setAttribute("aria-pressed", String(view.toggleWireframe()));
    });
  }
  container.dataset.viewerState = "ready";
  container.dataset.viewerReady = "1";
}

function mount(container) {
  if (!container || mounted.has(container) || !container.dataset.modelUrl) return;
  mounted.add(container);
  if (!("IntersectionObserver" in window)) {
    load(container);
    return;
  }
  // Load when the viewer is (nearly) on screen: a page with many files does not fetch every model.
  const observer = new IntersectionObserver(
    (entries) => {
      if (entries.some((entry) => entry.isIntersecting)) {
        observer.disconnect();
        load(container);
      }
    },
    { rootMargin: "200px" },
  );
  observer.observe(container);
}

function mountAll(root = document) {
  if (root.matches && root.matches(SELECTOR)) mount(root);
  if (root.querySelectorAll) root.querySelectorAll(SELECTOR).forEach(mount);
}

function start() {
  mountAll();
  new MutationObserver((records) => {
    for (const record of records) record.addedNodes.forEach((node) => node.nodeType === 1 && mountAll(node));
  }).observe(document.body, { childList: true, subtree: true });
}

window.hubViewer = { mount, mountAll };
if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", start, { once: true });
} else {
  start();
}
