/** events per read and per transaction of a projection runner, unless the engine is given another size */
export const DEFAULT_BATCH_SIZE = 500

/**
 * concurrent transactions per page of the shared log reader, unless the engine is given another
 * count: under load a page committed in one transaction took the sum of every projection's
 * handling time; in three, about that of the slowest group (each lane costs a begin and a commit)
 */
export const DEFAULT_COMMIT_LANES = 3
