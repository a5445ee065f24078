/**
 * The dashboard's scripts and styles, each served under a name made from a
 * hash of its content (`dashboard-3f9c…e1.js`), so a browser that cached one
 * release's file for a year can never run it against another release's API:
 * a changed file gets a new URL, an unchanged one keeps its URL (and its
 * cached copy) across releases. The table is built once per isolate, on the
 * first dashboard request, so evaluation isolates never pay for hashing.
 *
 * SHA-1 is used as a content fingerprint, not for security (a collision
 * would need someone to craft two dashboard files); 16 hex digits (64 bits)
 * keep two different contents apart with probability 1 − 2⁻⁶⁴ per pair.
 */
import uplotCss from "uplot/dist/uPlot.min.css";
import uplotJs from "uplot/dist/uPlot.iife.min.js";
import dashboardCss from "./assets/dashboard.css";
import dashboardJs from "./assets/dashboard.client.js";
import { sha1Hex } from "../../core/sha1";

export interface DashboardAsset {
  /** The file's name under /dashboard/assets/, carrying its content's hash. */
  name: string;
  body: string;
  type: string;
}

const JS = "text/javascript; charset=utf-8";
const CSS = "text/css; charset=utf-8";

/** Hex digits of the content hash in an asset's name. */
export const CONTENT_HASH_DIGITS = 16;

/** `stem-<hash of body>.ext`: the URL changes exactly when the content does. */
export function contentAddressedName(stem: string, extension: string, body: string): string {
  return `${stem}-${sha1Hex(body).slice(0, CONTENT_HASH_DIGITS)}.${extension}`;
}

export interface DashboardAssets {
  byName: ReadonlyMap<string, DashboardAsset>;
  uplotJs: DashboardAsset;
  uplotCss: DashboardAsset;
  dashboardJs: DashboardAsset;
  dashboardCss: DashboardAsset;
}

export function buildDashboardAssets(files: { uplotJs: string; uplotCss: string; dashboardJs: string; dashboardCss: string }): DashboardAssets {
  const asset = (stem: string, extension: string, body: string, type: string): DashboardAsset => ({ name: contentAddressedName(stem, extension, body), body, type });
  const built = {
    uplotJs: asset("uplot", "js", files.uplotJs, JS),
    uplotCss: asset("uplot", "css", files.uplotCss, CSS),
    dashboardJs: asset("dashboard", "js", files.dashboardJs, JS),
    dashboardCss: asset("dashboard", "css", files.dashboardCss, CSS),
  };
  return { ...built, byName: new Map(Object.values(built).map((a) => [a.name, a])) };
}

let bundled: DashboardAssets | null = null;

/** The assets bundled into this Worker, hashed on first use. */
export function dashboardAssets(): DashboardAssets {
  bundled ??= buildDashboardAssets({ uplotJs, uplotCss, dashboardJs, dashboardCss });
  return bundled;
}
