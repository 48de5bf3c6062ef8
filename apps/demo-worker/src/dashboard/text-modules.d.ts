// Files the bundler hands over as their text (root wrangler.toml [[rules]] type "Text").
declare module 'uplot/dist/uPlot.iife.min.js' {
  const source: string;
  export default source;
}
declare module 'uplot/dist/uPlot.min.css' {
  const source: string;
  export default source;
}
