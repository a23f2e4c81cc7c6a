import { HodeiCommand } from "../../base.js";

export default class SecretsRotateKey extends HodeiCommand {
  static override summary = "Reseal every secret under a new master key.";
  static override examples = ["<%= config.bin %> secrets rotate-key"];
  static override description = `A controller that keeps its own key file (the embedded one, or one started with --master-key-file) makes a new key there, reseals every value with it, and then forgets the old key. One given HODEI_MASTER_KEY cannot change its environment: set the new key in HODEI_MASTER_KEY and the old one in HODEI_MASTER_KEY_PREVIOUS, restart it, run this, then drop HODEI_MASTER_KEY_PREVIOUS.`;

  async run(): Promise<Record<string, unknown>> {
    const { flags } = await this.parse(SecretsRotateKey);
    const client = await this.connect(flags.controller);
    const r = await client.rotateKey();
    if (!this.jsonEnabled()) process.stdout.write(`${r.newKey ? "made a new master key; " : ""}${r.resealed} secret${r.resealed === 1 ? "" : "s"} resealed; every secret is sealed with key ${r.keyId}\n`);
    return { keyId: r.keyId, resealed: r.resealed, newKey: r.newKey };
  }
}
