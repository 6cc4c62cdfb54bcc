// Just enough of the mini-program framework to run example pages in Node: App(), getApp(),
// Page() and a page instance with `data`, `setData` and its lifecycle methods. The example files
// are loaded as they are, with `require`; `wx` is the shim from wx-shim.js.
"use strict";
const path = require("node:path");

/**
 * Installs the globals (wx, App, getApp, Page), loads app.js from `root`, and applies
 * `globalData` overrides (configuration, such as the server URL).
 */
function loadApp(root, wx, globalData) {
  let app = null;
  const pages = new Map();
  let loading = null;
  globalThis.wx = wx;
  globalThis.App = (def) => { app = def; };
  globalThis.getApp = () => app;
  globalThis.Page = (def) => { pages.set(loading, def); };
  require(path.join(root, "app.js"));
  if (!app) throw new Error("app.js did not call App()");
  Object.assign(app.globalData, globalData);

  /** A new instance of the page at `route` (e.g. "pages/live/live"), with onLoad(query) called. */
  function openPage(route, query) {
    const file = path.join(root, route + ".js");
    if (!pages.has(file)) {
      loading = file;
      require(file);
      loading = null;
      if (!pages.has(file)) throw new Error(`${route}.js did not call Page()`);
    }
    const def = pages.get(file);
    const page = { route };
    for (const [k, v] of Object.entries(def)) {
      page[k] = k === "data" ? structuredClone(v) : v;
    }
    page.data = page.data || {};
    // setData with plain top-level keys, as the examples use it.
    page.setData = (patch, cb) => {
      for (const [k, v] of Object.entries(patch)) {
        if (k.includes(".") || k.includes("[")) throw new Error(`path keys are not supported by this shim: ${k}`);
        page.data[k] = structuredClone(v);
      }
      if (cb) cb();
    };
    if (page.onLoad) page.onLoad(query || {});
    if (page.onShow) page.onShow();
    return page;
  }

  /** Unloads a page as the framework does when it is closed. */
  function closePage(page) {
    if (page.onUnload) page.onUnload();
  }

  return { app, openPage, closePage };
}

module.exports = { loadApp };
