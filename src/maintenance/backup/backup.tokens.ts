/** The MongoDB database (driver `Db`) that backups read and restores write. */
export const BACKUP_DATABASE = Symbol('BACKUP_DATABASE');
