// The public API of this package arrives with its issue; the package exists so the workspace, its
// exports and its build are in place from the start.
export {};
