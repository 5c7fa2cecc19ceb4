/** The MongoDB database (driver `Db`) that backups read and restores write. */
export const BACKUP_DATABASE = Symbol('BACKUP_DATABASE');
/** Where finished backups are copied off the machine (`ObjectStorage`), or null (local driver). */
export const BACKUP_STORAGE = Symbol('BACKUP_STORAGE');
