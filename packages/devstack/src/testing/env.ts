export { serviceUrls, uniqueName } from '../defaults.js';
