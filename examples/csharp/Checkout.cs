// Checkout.cs: a POS's checkout flow through libloyalty from C# (Loyalty.cs), one printed line a step.
// Usage: mono Checkout.exe TILL_CONFIG
// Exits 0 only when every step went as expected; a failed call prints its loy_status_str and the
// handle's last error.
using System;
using Loyalty;

sealed class UnexpectedException : Exception
{
    public UnexpectedException(string message) : base(message) { }
}

static class CheckoutExample
{
    const string Card = "LC-0001-2345";
    const string Phone = "13800138000";
    const string Stranger = "13700000000";
    const string Receipt = "R-CS-0001";
    const string Refund = "F-CS-0001";
    const string EnrollReceipt = "R-CS-0002";

    static int Main(string[] args)
    {
        if (args.Length != 1)
        {
            Console.Error.WriteLine("usage: mono Checkout.exe TILL_CONFIG");
            return 2;
        }
        try
        {
            Native.CheckAbi(); // before anything: a binding that does not mirror the header must not run
            Run(args[0]);
            Console.WriteLine("done");
            return 0;
        }
        catch (LoyaltyException e)
        {
            Console.Error.WriteLine("failed: " + e.Message);
        }
        catch (UnexpectedException e)
        {
            Console.Error.WriteLine("unexpected: " + e.Message);
        }
        catch (Exception e) when (e is DllNotFoundException || e is EntryPointNotFoundException || e is InvalidOperationException)
        {
            Console.Error.WriteLine("cannot use libloyalty: " + e.Message);
        }
        return 1;
    }

    static void Expect(bool condition, string what)
    {
        if (!condition) throw new UnexpectedException(what);
    }

    static void Log(int level, string message)
    {
        Console.Error.WriteLine("loyalty " + LogLevel.Name(level) + ": " + message);
    }

    static string Percent(int bp)
    {
        return bp % 100 == 0 ? (bp / 100) + "%" : (bp / 100) + "." + (bp % 100).ToString("D2") + "%";
    }

    // A prompt as the cashier would read it (a POS words it in its own language), amounts in minor units.
    static string Describe(loy_prompt_info p)
    {
        string figures;
        switch (p.code)
        {
            case PromptCode.BirthdayWindow: figures = "birthday window: more points today"; break;
            case PromptCode.FirstPurchase: figures = Percent(p.rate_bp) + " off a first purchase"; break;
            case PromptCode.Winback: figures = "back after " + p.days + " days: " + Percent(p.rate_bp) + " off"; break;
            case PromptCode.PointsExpiring: figures = p.points + " points expire on " + p.Date; break;
            case PromptCode.NextTier: figures = p.spend_minor + " more to reach " + p.Tier; break;
            case PromptCode.NegativeBalance: figures = "balance " + p.points + " points: no redemption"; break;
            case PromptCode.Offline: figures = p.minutes < 0 ? "never synced" : "offline for " + p.minutes + " minutes"; break;
            default: figures = "no wording for it yet"; break;
        }
        return p.code + " (" + p.CodeName + "): " + figures;
    }

    // The sale of steps 5 and 7: the same member, lines and points each time.
    static Checkout CoatAndScarf(Till till)
    {
        Checkout checkout = till.BeginCheckout();
        try
        {
            checkout.Identify(Phone);
            checkout.AddLine("1", "COAT-01", "apparel", 1, 59900);
            checkout.AddLine("2", "SCARF-07", "accessories", 1, 12900);
            checkout.Redeem(1000);
            return checkout;
        }
        catch
        {
            checkout.Dispose();
            throw;
        }
    }

    static void Run(string config)
    {
        // 1. Open the till; warnings and errors go to stderr.
        using (Till till = Till.Open(config, Log, LogLevel.Warn))
        {
            Console.WriteLine("opened: libloyalty " + Native.VersionString(Till.Version));

            // 2. Members, coupons and rules from headquarters.
            loy_sync_result sync = till.Sync();
            Console.WriteLine("synced: {0} sent, {1} applied, {2} members", sync.sent, sync.applied, sync.members);

            // 3. A card scanned: the member with every prompt.
            loy_prompt_info[] prompts;
            loy_member_info member = till.Lookup(Card, out prompts);
            Expect(member.MemberId == "M-1001", "card " + Card + " is member " + member.MemberId + ", not M-1001");
            Console.WriteLine("member {0} ({1}), {2}, {3} points, {4} prompts", member.MemberId, member.MaskedName,
                              member.TierName, member.available_points, prompts.Length);
            foreach (loy_prompt_info prompt in prompts)
                Console.WriteLine("  prompt " + Describe(prompt));

            // 4. A phone that is no member's.
            try
            {
                till.Lookup(Stranger);
                throw new UnexpectedException(Stranger + " was found as a member");
            }
            catch (LoyaltyException e) when (e.Status == Status.NotFound)
            {
                Console.WriteLine("not a member: " + e.Detail);
            }

            // 5. The sale, quoted.
            loy_quote committed;
            using (Checkout checkout = CoatAndScarf(till))
            {
                loy_quote quote = checkout.Quote();
                Expect(quote.redeem_rejected == 0, "redeeming 1000 points was refused: " + Checkout.RedeemRefusal(quote.redeem_rejected));
                Console.WriteLine("quote: gross {0}, member discount {1}, points redeemed {2} (value {3}), payable {4}, earns {5}",
                                  quote.gross_minor, quote.member_discount_minor, quote.redeem_points, quote.redeem_value_minor,
                                  quote.payable_minor, quote.points_earned);

                // 6. Paid: committed.
                committed = checkout.Commit(Receipt);
                Expect(committed.replayed == 0, Receipt + " was committed before this run");
                Expect(committed.payable_minor == quote.payable_minor, "the commit's payable differs from the quote's");
                Console.WriteLine("committed {0}: payable {1}, earned {2}", Receipt, committed.payable_minor, committed.points_earned);
            }

            // 7. The POS did not see the answer and commits the same sale again.
            using (Checkout retry = CoatAndScarf(till))
            {
                loy_quote again = retry.Commit(Receipt);
                Expect(again.replayed == 1, "the retry of " + Receipt + " was not a replay");
                Expect(again.payable_minor == committed.payable_minor && again.points_earned == committed.points_earned,
                       "the retry of " + Receipt + " answered other figures than the sale");
                Console.WriteLine("retry of {0}: replayed, no second sale", Receipt);
            }

            // 8. The scarf comes back.
            loy_refund_result refund = till.Refund(Refund, Receipt, new RefundLine("2", 1));
            Expect(refund.replayed == 0, Refund + " was committed before this run");
            Console.WriteLine("refunded {0}: {1} back, {2} points taken back, {3} given back", Refund, refund.amount_minor,
                              refund.points_taken_back, refund.points_given_back);

            // 9. A new customer joins at the till and buys at once.
            using (Checkout checkout = till.BeginCheckout())
            {
                loy_member_info joined = checkout.Enroll(new Enrollment
                {
                    Phone = "13712345678",
                    Name = "Zhao Lei",
                    Birthday = "03-15",
                    Consent = "consent form v2 signed at till T01",
                });
                checkout.AddLine("1", "TEE-3", "apparel", 1, 9900);
                loy_quote quote = checkout.Quote();
                Expect(quote.member_discount_reason == DiscountReason.FirstPurchase,
                       "the new member's discount is not the first purchase's (reason " + quote.member_discount_reason + ")");
                loy_quote sale = checkout.Commit(EnrollReceipt);
                Expect(sale.payable_minor == quote.payable_minor, "the commit's payable differs from the quote's");
                Console.WriteLine("enrolled {0}: first purchase, payable {1}", joined.MemberId, sale.payable_minor);
            }

            // 10. Everything to headquarters.
            till.Sync();
            loy_till_status status = till.GetStatus();
            Expect(status.outbox_depth == 0, status.outbox_depth + " transactions left in the outbox (last sync error: \"" +
                                                 status.LastSyncError + "\")");
            Console.WriteLine("status: outbox {0}, members {1}, rules {2}", status.outbox_depth, status.members, status.RulesVersion);
        }
    }
}
