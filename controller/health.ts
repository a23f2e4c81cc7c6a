/**
 * What the controller knows of its own hearing: when its database last failed.
 * While the database is down agents are turned away (their reports cannot be
 * stored), so their silence then says nothing about them; the lost-agent sweep
 * starts its wait afresh from the last trouble.
 */
export class Health {
  databaseTroubleAt = 0;

  noteDatabaseTrouble(now = Date.now()): void {
    this.databaseTroubleAt = now;
  }
}
