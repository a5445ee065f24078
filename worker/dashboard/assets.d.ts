/** Files wrangler bundles as text (`[[rules]] type = "Text"` in wrangler.toml): the dashboard's client and uPlot. */
declare module "*.client.js" {
  const text: string;
  export default text;
}
declare module "*.css" {
  const text: string;
  export default text;
}
declare module "uplot/dist/uPlot.iife.min.js" {
  const text: string;
  export default text;
}
