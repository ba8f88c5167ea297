export function checkPackageDeps(root: string): string[];
