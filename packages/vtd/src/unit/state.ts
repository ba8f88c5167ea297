/**
 * The internal state of a unit that registers do not hold directly: the latched root-table
 * pointer and mode, translation enable, and the invalidation queue's latched base, size and
 * indices. Shared by the register handlers, the translation pipeline and the queue processor.
 *
 * @spec reference/vtd.md §1.4 (SRTP latches RTADDR; TE), §1.7 (QIE latches IQA; IQH/IQT indices)
 */
export class UnitState {
  /** Latched root table address and translation-table mode (0 legacy, 1 scalable). */
  rootTable = 0;
  rootMode = 0;
  /** GSTS.TES. */
  translationEnabled = false;
  /** Queued invalidation: enabled, base, entries, 256-bit descriptors, head and tail indices. */
  qiEnabled = false;
  iqBase = 0;
  iqEntries = 0;
  iqWide = false;
  iqHead = 0;
  iqTail = 0;
  /** Type of the last descriptor processed (QEMU's QI-disable check). */
  lastDescType = 0;
  /** Interrupt-remapping table (latched by SIRTP; interrupt translation is not modelled). */
  irtAddress = 0;

  reset(): void {
    this.rootTable = 0;
    this.rootMode = 0;
    this.translationEnabled = false;
    this.qiEnabled = false;
    this.iqBase = 0;
    this.iqEntries = 0;
    this.iqWide = false;
    this.iqHead = 0;
    this.iqTail = 0;
    this.lastDescType = 0;
    this.irtAddress = 0;
  }
}
