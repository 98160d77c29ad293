// LoyaltyException.java: a failed libloyalty call: its loy_status, loy_status_str of it, and the handle's
// last error.
public final class LoyaltyException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  private final int status;
  private final String function;
  private final String detail;

  public LoyaltyException(int status, String function, String detail) {
    super(function + ": " + Till.statusString(status) + " (" + status + ")" + (detail.isEmpty() ? "" : ": " + detail));
    this.status = status;
    this.function = function;
    this.detail = detail;
  }

  public int status() { return status; }

  public String function() { return function; }

  public String detail() { return detail; }
}
