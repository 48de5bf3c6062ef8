/** Which client `createStrata` opens for `databaseUrl`. */
export type Driver = 'pg' | 'neon-http' | 'neon-ws';
