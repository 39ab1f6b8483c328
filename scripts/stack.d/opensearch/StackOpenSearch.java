// Tiny launcher used by scripts/stack: runs ONE OpenSearch node in this JVM, with the standard
// modules (analysis-common, painless, mapper-extras, reindex, netty4 transport, ...) loaded from
// the classpath by org.codelibs.opensearch.runner.OpenSearchRunner.
//
// Why not OpenSearchRunner.main: it refuses HTTP ports above 9299 (its port probing stops there).
//
// Usage: java -Dstack.http.port=59200 -cp <classpath> StackOpenSearch <home> <config dir> <data dir> <logs dir>
// Everything else (network.host, discovery, watermarks, ...) is read from <config dir>/opensearch.yml
// and <config dir>/log4j2.properties, written by scripts/stack.

import org.codelibs.opensearch.runner.OpenSearchRunner;

public final class StackOpenSearch {
    public static void main(final String[] args) throws Exception {
        if (args.length != 4) {
            System.err.println("usage: StackOpenSearch <home> <config dir> <data dir> <logs dir>");
            System.exit(2);
        }
        final int httpPort = Integer.parseInt(System.getProperty("stack.http.port", "59200"));
        final OpenSearchRunner runner = new OpenSearchRunner();
        runner.setMaxHttpPort(-1); // node 1 gets baseHttpPort + 1 as is; never probe for another port
        final String nodeName = System.getProperty("stack.node.name", "stack-node");
        runner.onBuild((id, settings) -> settings.put("node.name", nodeName));
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                runner.close();
            } catch (final Exception e) {
                System.err.println("close failed: " + e);
            }
        }, "stack-shutdown"));
        try {
            runner.build("-basePath", args[0], "-confPath", args[1], "-dataPath", args[2], "-logsPath", args[3],
                    "-numOfNode", "1", "-baseHttpPort", String.valueOf(httpPort - 1),
                    "-clusterName", System.getProperty("stack.cluster.name", "stack"), "-printOnFailure");
        } catch (final Throwable t) {
            t.printStackTrace();
            System.exit(1);
        }
        System.out.println("StackOpenSearch: node started, http.port=" + httpPort);
        while (!runner.isClosed()) {
            Thread.sleep(2000);
        }
    }
}
