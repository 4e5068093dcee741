"""Backup and restore: one verified archive of everything Abby holds (see archive.py)."""

from core.backup.restore import RestoreReport, restore_backup
from core.backup.snapshot import BackupReport, create_backup

__all__ = ["BackupReport", "RestoreReport", "create_backup", "restore_backup"]
