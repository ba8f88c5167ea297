/** Tests run on sources (tooling/vitest-project.ts). */
import { layerProject } from "../../tooling/vitest-project";

export default layerProject("guest-linux-swiotlb");
